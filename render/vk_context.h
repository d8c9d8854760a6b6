// The Vulkan instance, window surface, device and graphics/present queue for
// one SDL window. Any device type is accepted (discrete preferred, Mesa's
// lavapipe CPU device last), so the app also runs where there is no GPU.
//
// With VkContextOptions::cuda_interop the device is created with what the
// CUDA -> Vulkan frame hand-off needs (render/vk_interop_device.h: the
// external memory/semaphore fd extensions and the timelineSemaphore feature)
// when it has all of it; otherwise with none of it, and one log line says
// what is missing (the app then hands frames over through the host).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include <SDL.h>
#include <vulkan/vulkan.h>

#include "render/vk_interop_device.h"

namespace wl::render {

struct VkContextOptions {
  bool validation = false;    // enable VK_LAYER_KHRONOS_validation when present
  bool cuda_interop = false;  // enable the frame hand-off's extensions where the device has them all
};

class VkContext {
 public:
  VkContext(SDL_Window* window, VkContextOptions options);
  ~VkContext();
  VkContext(const VkContext&) = delete;
  VkContext& operator=(const VkContext&) = delete;

  VkInstance instance = VK_NULL_HANDLE;
  VkSurfaceKHR surface = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  VkQueue queue = VK_NULL_HANDLE;
  VkPhysicalDeviceProperties properties{};
  std::string device_name;
  bool validation_enabled = false;
  // The handles again, with the hand-off extensions that were enabled
  // (interop.enabled.complete(), or nothing enabled).
  InteropDevice interop;
  // Why interop.enabled is empty ("" when it is complete): not asked for, or what the device lacks.
  std::string interop_unavailable;
  // VkPhysicalDeviceIDProperties::deviceUUID, to match the device CUDA uses
  // (read when cuda_interop was asked for; zeros otherwise).
  std::array<uint8_t, VK_UUID_SIZE> device_uuid{};

  // Index of a memory type with `flags` among `type_bits`; throws if none.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags flags) const;

 private:
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
};

}  // namespace wl::render
