// Small Vulkan helpers for the interop tests (tests/test_vk_interop.cpp and
// tests/gpu/test_cuda_vk_interop.cpp): a headless device or a skip with the
// reason, a host-visible readback buffer, one command buffer with timeline
// submits as the presenter makes them, and a copy with its host barrier.
#pragma once
#if defined(WORLDLOOP_HAS_VULKAN)
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "render/vk_check.h"
#include "render/vk_interop_device.h"

namespace wl::test {

using wl::render::ExportableBuffer;
using wl::render::HeadlessVkDevice;
using wl::render::InteropDevice;
using wl::render::TimelineSemaphore;

inline std::unique_ptr<HeadlessVkDevice> make_device(std::string& why) {
  try {
    return std::make_unique<HeadlessVkDevice>();
  } catch (const std::exception& e) {
    why = e.what();
    return nullptr;
  }
}

#define WL_NEED_VK_DEVICE(dev)                                                   \
  std::string wl_why_;                                                           \
  auto dev = wl::test::make_device(wl_why_);                                               \
  if (!dev) GTEST_SKIP() << "no Vulkan device: " << wl_why_

// A host-visible buffer to read results back.
struct Readback {
  const InteropDevice& dev;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  void* data = nullptr;
  Readback(const InteropDevice& d, VkDeviceSize size) : dev(d) {
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = size;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    WL_VK_CHECK(vkCreateBuffer(dev.device, &bci, nullptr, &buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(dev.device, buffer, &req);
    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(dev.physical_device, &mem);
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < mem.memoryTypeCount && type == UINT32_MAX; ++i)
      if ((req.memoryTypeBits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & want) == want) type = i;
    if (type == UINT32_MAX) throw std::runtime_error("no host-visible coherent memory");
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = type;
    WL_VK_CHECK(vkAllocateMemory(dev.device, &mai, nullptr, &memory));
    WL_VK_CHECK(vkBindBufferMemory(dev.device, buffer, memory, 0));
    WL_VK_CHECK(vkMapMemory(dev.device, memory, 0, VK_WHOLE_SIZE, 0, &data));
  }
  ~Readback() {
    vkDestroyBuffer(dev.device, buffer, nullptr);
    vkFreeMemory(dev.device, memory, nullptr);
  }
};

// One command pool + buffer on the device's queue.
struct Commands {
  const InteropDevice& dev;
  VkCommandPool pool = VK_NULL_HANDLE;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  explicit Commands(const InteropDevice& d) : dev(d) {
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = dev.queue_family;
    WL_VK_CHECK(vkCreateCommandPool(dev.device, &pci, nullptr, &pool));
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    WL_VK_CHECK(vkAllocateCommandBuffers(dev.device, &ai, &cmd));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    WL_VK_CHECK(vkCreateFence(dev.device, &fci, nullptr, &fence));
  }
  ~Commands() {
    vkQueueWaitIdle(dev.queue);
    vkDestroyFence(dev.device, fence, nullptr);
    vkDestroyCommandPool(dev.device, pool, nullptr);
  }
  void begin() {
    WL_VK_CHECK(vkResetCommandBuffer(cmd, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    WL_VK_CHECK(vkBeginCommandBuffer(cmd, &bi));
  }
  // Submits; with `wait` / `signal` timelines as the presenter does.
  void submit(VkSemaphore wait = VK_NULL_HANDLE, uint64_t wait_value = 0, VkSemaphore signal = VK_NULL_HANDLE,
              uint64_t signal_value = 0) {
    WL_VK_CHECK(vkEndCommandBuffer(cmd));
    WL_VK_CHECK(vkResetFences(dev.device, 1, &fence));
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkTimelineSemaphoreSubmitInfo ts{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    ts.waitSemaphoreValueCount = wait ? 1 : 0;
    ts.pWaitSemaphoreValues = &wait_value;
    ts.signalSemaphoreValueCount = signal ? 1 : 0;
    ts.pSignalSemaphoreValues = &signal_value;
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.pNext = (wait || signal) ? &ts : nullptr;
    si.waitSemaphoreCount = wait ? 1 : 0;
    si.pWaitSemaphores = &wait;
    si.pWaitDstStageMask = &stage;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    si.signalSemaphoreCount = signal ? 1 : 0;
    si.pSignalSemaphores = &signal;
    WL_VK_CHECK(vkQueueSubmit(dev.queue, 1, &si, fence));
  }
  void wait_done() { WL_VK_CHECK(vkWaitForFences(dev.device, 1, &fence, VK_TRUE, UINT64_MAX)); }
};

inline void record_copy(VkCommandBuffer cmd, VkBuffer src, VkBuffer dst, VkDeviceSize size) {
  VkBufferCopy region{0, 0, size};
  vkCmdCopyBuffer(cmd, src, dst, 1, &region);
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0,
                       nullptr);
}

}  // namespace wl::test
#endif  // WORLDLOOP_HAS_VULKAN
