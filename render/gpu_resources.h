// Small RAII owners for the presenter's buffers and images.
#pragma once

#include <cstddef>

#include <vulkan/vulkan.h>

#include "render/vk_context.h"

namespace wl::render {

// A host-visible, coherent buffer, mapped for its whole life.
class MappedBuffer {
 public:
  MappedBuffer(const VkContext& ctx, VkDeviceSize size, VkBufferUsageFlags usage);
  ~MappedBuffer();
  MappedBuffer(const MappedBuffer&) = delete;
  MappedBuffer& operator=(const MappedBuffer&) = delete;

  VkBuffer buffer() const { return buffer_; }
  VkDeviceSize size() const { return size_; }
  void* data() const { return mapped_; }

 private:
  const VkContext& ctx_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkDeviceSize size_ = 0;
  void* mapped_ = nullptr;
};

// A device-local 2D image sampled by the fragment shaders and filled by
// buffer-to-image copies. Tracks its own layout.
class SampledImage {
 public:
  SampledImage(const VkContext& ctx, VkFormat format, uint32_t width, uint32_t height);
  ~SampledImage();
  SampledImage(const SampledImage&) = delete;
  SampledImage& operator=(const SampledImage&) = delete;

  // Records: barrier to TRANSFER_DST (after earlier fragment reads), the copy
  // from `src` at `offset` (tightly packed), barrier to SHADER_READ_ONLY.
  void record_upload(VkCommandBuffer cmd, VkBuffer src, VkDeviceSize offset);
  // Records a transition to SHADER_READ_ONLY without data (first use).
  void record_make_readable(VkCommandBuffer cmd);

  VkImageView view() const { return view_; }
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  VkFormat format() const { return format_; }

 private:
  void record_transition(VkCommandBuffer cmd, VkImageLayout to);

  const VkContext& ctx_;
  VkFormat format_;
  uint32_t width_, height_;
  VkImage image_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkImageView view_ = VK_NULL_HANDLE;
  VkImageLayout layout_ = VK_IMAGE_LAYOUT_UNDEFINED;
};

}  // namespace wl::render
