// Vulkan objects another API (CUDA) can import by file descriptor: a
// device-local buffer in its own exportable allocation (OPAQUE_FD) and a
// timeline semaphore (optionally exportable as OPAQUE_FD). Both throw wl::Error
// naming the missing extension when the device was not created with it
// (render/vk_interop_device.h).
#pragma once

#include <cstdint>

#include <vulkan/vulkan.h>

#include "render/vk_interop_device.h"

namespace wl::render {

class ExportableBuffer {
 public:
  // A TRANSFER_SRC|TRANSFER_DST|STORAGE buffer of `size` bytes, device-local,
  // in a dedicated allocation made with VkExportMemoryAllocateInfo (OPAQUE_FD).
  ExportableBuffer(const InteropDevice& dev, VkDeviceSize size);
  ~ExportableBuffer();
  ExportableBuffer(const ExportableBuffer&) = delete;
  ExportableBuffer& operator=(const ExportableBuffer&) = delete;

  // A new fd for the memory (vkGetMemoryFdKHR); the caller owns it (CUDA's
  // import takes it over on success; otherwise close() it).
  int export_fd() const;

  VkBuffer buffer() const { return buffer_; }
  VkDeviceSize size() const { return size_; }                 // of the buffer
  VkDeviceSize allocation_size() const { return alloc_size_; }  // what the importer must be told
  VkDeviceSize offset() const { return 0; }                    // buffer within the memory
  bool dedicated() const { return true; }                      // VkMemoryDedicatedAllocateInfo was used

 private:
  const InteropDevice& dev_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkDeviceSize size_ = 0, alloc_size_ = 0;
  PFN_vkGetMemoryFdKHR get_memory_fd_ = nullptr;
};

class TimelineSemaphore {
 public:
  // A timeline semaphore starting at `initial`; `exportable` adds
  // VkExportSemaphoreCreateInfo (OPAQUE_FD), which needs VK_KHR_external_semaphore_fd.
  TimelineSemaphore(const InteropDevice& dev, bool exportable, uint64_t initial = 0);
  ~TimelineSemaphore();
  TimelineSemaphore(const TimelineSemaphore&) = delete;
  TimelineSemaphore& operator=(const TimelineSemaphore&) = delete;

  // A new fd for the semaphore (vkGetSemaphoreFdKHR); the caller owns it.
  int export_fd() const;
  // vkSignalSemaphore from the host (values must increase).
  void signal(uint64_t value) const;
  // vkWaitSemaphores: true once the counter reaches `value`, false on timeout.
  bool wait(uint64_t value, uint64_t timeout_ns) const;
  uint64_t value() const;

  VkSemaphore handle() const { return semaphore_; }
  bool exportable() const { return exportable_; }

 private:
  const InteropDevice& dev_;
  VkSemaphore semaphore_ = VK_NULL_HANDLE;
  bool exportable_ = false;
  PFN_vkGetSemaphoreFdKHR get_semaphore_fd_ = nullptr;
  PFN_vkSignalSemaphoreKHR signal_ = nullptr;
  PFN_vkWaitSemaphoresKHR wait_ = nullptr;
  PFN_vkGetSemaphoreCounterValueKHR counter_ = nullptr;
};

}  // namespace wl::render
