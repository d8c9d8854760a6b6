// What the CUDA <-> Vulkan frame hand-off (render/cuda_vk_interop.h) needs from
// a Vulkan device: the external-memory/-semaphore fd extensions and timeline
// semaphores, enabled at device creation. Vulkan cannot be asked afterwards
// which extensions a device was created with, so whoever creates the device
// says so in InteropDevice.
//
// HeadlessVkDevice creates an instance and a device without any window or
// surface (tests, tools); it enables whatever interop support the device has.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

namespace wl::render {

struct InteropSupport {
  bool external_memory_fd = false;     // VK_KHR_external_memory_fd
  bool external_semaphore_fd = false;  // VK_KHR_external_semaphore_fd
  bool timeline_semaphore = false;     // VK_KHR_timeline_semaphore + feature timelineSemaphore

  // The extensions a device must enable for the supported parts (pointers to
  // static strings), and the missing ones as "a, b" ("" when complete).
  std::vector<const char*> device_extensions() const;
  std::string missing() const;
  bool complete() const { return external_memory_fd && external_semaphore_fd && timeline_semaphore; }
};

// What `pd` supports (needs a Vulkan 1.1 instance).
InteropSupport query_interop_support(VkPhysicalDevice pd);

// The handles the interop uses, and what was enabled on `device`.
struct InteropDevice {
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  InteropSupport enabled;
};

class HeadlessVkDevice {
 public:
  // Picks a device with a graphics (else compute) queue, discrete first, CPU
  // last; throws wl::Error when there is no Vulkan device at all.
  HeadlessVkDevice();
  ~HeadlessVkDevice();
  HeadlessVkDevice(const HeadlessVkDevice&) = delete;
  HeadlessVkDevice& operator=(const HeadlessVkDevice&) = delete;

  const InteropDevice& interop() const { return dev_; }
  const std::string& device_name() const { return name_; }

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  InteropDevice dev_;
  std::string name_;
};

}  // namespace wl::render
