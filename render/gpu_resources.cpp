#include "render/gpu_resources.h"

#include "render/vk_check.h"

namespace wl::render {

MappedBuffer::MappedBuffer(const VkContext& ctx, VkDeviceSize size, VkBufferUsageFlags usage)
    : ctx_(ctx), size_(size) {
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = size;
  bci.usage = usage;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  WL_VK_CHECK(vkCreateBuffer(ctx.device, &bci, nullptr, &buffer_));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx.device, buffer_, &req);
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = req.size;
  mai.memoryTypeIndex =
      ctx.memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  WL_VK_CHECK(vkAllocateMemory(ctx.device, &mai, nullptr, &memory_));
  WL_VK_CHECK(vkBindBufferMemory(ctx.device, buffer_, memory_, 0));
  WL_VK_CHECK(vkMapMemory(ctx.device, memory_, 0, VK_WHOLE_SIZE, 0, &mapped_));
}

MappedBuffer::~MappedBuffer() {
  if (mapped_) vkUnmapMemory(ctx_.device, memory_);
  vkDestroyBuffer(ctx_.device, buffer_, nullptr);
  vkFreeMemory(ctx_.device, memory_, nullptr);
}

SampledImage::SampledImage(const VkContext& ctx, VkFormat format, uint32_t width, uint32_t height)
    : ctx_(ctx), format_(format), width_(width), height_(height) {
  VkImageCreateInfo ici{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
  ici.imageType = VK_IMAGE_TYPE_2D;
  ici.format = format;
  ici.extent = {width, height, 1};
  ici.mipLevels = 1;
  ici.arrayLayers = 1;
  ici.samples = VK_SAMPLE_COUNT_1_BIT;
  ici.tiling = VK_IMAGE_TILING_OPTIMAL;
  ici.usage = VK_IMAGE_USAGE_SAMPLED_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT;
  ici.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  ici.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  WL_VK_CHECK(vkCreateImage(ctx.device, &ici, nullptr, &image_));
  VkMemoryRequirements req;
  vkGetImageMemoryRequirements(ctx.device, image_, &req);
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = ctx.memory_type(req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  WL_VK_CHECK(vkAllocateMemory(ctx.device, &mai, nullptr, &memory_));
  WL_VK_CHECK(vkBindImageMemory(ctx.device, image_, memory_, 0));
  VkImageViewCreateInfo vci{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
  vci.image = image_;
  vci.viewType = VK_IMAGE_VIEW_TYPE_2D;
  vci.format = format;
  vci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
  WL_VK_CHECK(vkCreateImageView(ctx.device, &vci, nullptr, &view_));
}

SampledImage::~SampledImage() {
  vkDestroyImageView(ctx_.device, view_, nullptr);
  vkDestroyImage(ctx_.device, image_, nullptr);
  vkFreeMemory(ctx_.device, memory_, nullptr);
}

void SampledImage::record_transition(VkCommandBuffer cmd, VkImageLayout to) {
  VkImageMemoryBarrier b{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
  b.oldLayout = layout_;
  b.newLayout = to;
  b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
  b.image = image_;
  b.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
  VkPipelineStageFlags src_stage, dst_stage;
  if (to == VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL) {
    // Earlier frames' fragment shaders read it: finish those reads first.
    b.srcAccessMask = layout_ == VK_IMAGE_LAYOUT_UNDEFINED ? 0 : VK_ACCESS_SHADER_READ_BIT;
    b.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    src_stage = layout_ == VK_IMAGE_LAYOUT_UNDEFINED ? VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT
                                                    : VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT;
    dst_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
  } else {
    b.srcAccessMask = layout_ == VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL ? VK_ACCESS_TRANSFER_WRITE_BIT : 0;
    b.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
    src_stage = layout_ == VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL ? VK_PIPELINE_STAGE_TRANSFER_BIT
                                                               : VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT;
    dst_stage = VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT;
  }
  vkCmdPipelineBarrier(cmd, src_stage, dst_stage, 0, 0, nullptr, 0, nullptr, 1, &b);
  layout_ = to;
}

void SampledImage::record_upload(VkCommandBuffer cmd, VkBuffer src, VkDeviceSize offset) {
  record_transition(cmd, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL);
  VkBufferImageCopy region{};
  region.bufferOffset = offset;
  region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
  region.imageExtent = {width_, height_, 1};
  vkCmdCopyBufferToImage(cmd, src, image_, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
  record_transition(cmd, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL);
}

void SampledImage::record_make_readable(VkCommandBuffer cmd) {
  if (layout_ != VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL)
    record_transition(cmd, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL);
}

}  // namespace wl::render
