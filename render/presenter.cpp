#include "render/presenter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <SDL_vulkan.h>
#include <stb/stb_image_write.h>

#include "render/vk_check.h"

namespace wl::render {

namespace {

constexpr VkDeviceSize kScoreOffsetAlign = 256;

VkDeviceSize align_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

VkSampler make_sampler(VkDevice device, VkFilter filter) {
  VkSamplerCreateInfo sci{VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO};
  sci.magFilter = sci.minFilter = filter;
  sci.mipmapMode = VK_SAMPLER_MIPMAP_MODE_NEAREST;
  sci.addressModeU = sci.addressModeV = sci.addressModeW = VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE;
  sci.maxLod = 0.0f;
  VkSampler s;
  WL_VK_CHECK(vkCreateSampler(device, &sci, nullptr, &s));
  return s;
}

}  // namespace

Presenter::Presenter(SDL_Window* window, PresenterOptions options) : window_(window), options_(options) {
  ctx_ = std::make_unique<VkContext>(window, VkContextOptions{options.validation, options.cuda_interop});
  if (ctx_->interop.enabled.complete()) exporter_ = std::make_unique<VkFrameExporter>(ctx_->interop);
  surface_format_ = Swapchain::choose_format(*ctx_);

  VkAttachmentDescription color{};
  color.format = surface_format_.format;
  color.samples = VK_SAMPLE_COUNT_1_BIT;
  color.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR;
  color.storeOp = VK_ATTACHMENT_STORE_OP_STORE;
  color.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
  color.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
  color.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  color.finalLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR;
  VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkSubpassDescription sub{};
  sub.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
  sub.colorAttachmentCount = 1;
  sub.pColorAttachments = &ref;
  VkSubpassDependency dep{};
  dep.srcSubpass = VK_SUBPASS_EXTERNAL;
  dep.dstSubpass = 0;
  dep.srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  dep.dstStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  dep.dstAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
  VkRenderPassCreateInfo rpi{VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO};
  rpi.attachmentCount = 1;
  rpi.pAttachments = &color;
  rpi.subpassCount = 1;
  rpi.pSubpasses = &sub;
  rpi.dependencyCount = 1;
  rpi.pDependencies = &dep;
  WL_VK_CHECK(vkCreateRenderPass(ctx_->device, &rpi, nullptr, &render_pass_));

  int w = 0, h = 0;
  SDL_Vulkan_GetDrawableSize(window_, &w, &h);
  swapchain_ = std::make_unique<Swapchain>(*ctx_, render_pass_, surface_format_.format,
                                           VkExtent2D{static_cast<uint32_t>(std::max(w, 1)),
                                                      static_cast<uint32_t>(std::max(h, 1))},
                                           options_.vsync);
  pipelines_ = std::make_unique<BlitPipelines>(*ctx_, render_pass_);

  for (FrameSlot& s : slots_) {
    VkCommandPoolCreateInfo cpi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    cpi.queueFamilyIndex = ctx_->queue_family;
    WL_VK_CHECK(vkCreateCommandPool(ctx_->device, &cpi, nullptr, &s.pool));
    VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    cai.commandPool = s.pool;
    cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cai.commandBufferCount = 1;
    WL_VK_CHECK(vkAllocateCommandBuffers(ctx_->device, &cai, &s.cmd));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    fci.flags = VK_FENCE_CREATE_SIGNALED_BIT;
    WL_VK_CHECK(vkCreateFence(ctx_->device, &fci, nullptr, &s.in_flight));
    VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    WL_VK_CHECK(vkCreateSemaphore(ctx_->device, &sci, nullptr, &s.image_available));
  }

  nearest_ = make_sampler(ctx_->device, VK_FILTER_NEAREST);
  linear_ = make_sampler(ctx_->device, VK_FILTER_LINEAR);
  VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 3};
  VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dpi.maxSets = 3;
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = &ps;
  WL_VK_CHECK(vkCreateDescriptorPool(ctx_->device, &dpi, nullptr, &descriptor_pool_));
  VkDescriptorSetLayout layouts[3] = {pipelines_->set_layout(), pipelines_->set_layout(), pipelines_->set_layout()};
  VkDescriptorSetAllocateInfo dai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  dai.descriptorPool = descriptor_pool_;
  dai.descriptorSetCount = 3;
  dai.pSetLayouts = layouts;
  VkDescriptorSet sets[3];
  WL_VK_CHECK(vkAllocateDescriptorSets(ctx_->device, &dai, sets));
  frame_set_nearest_ = sets[0];
  frame_set_linear_ = sets[1];
  score_set_ = sets[2];
}

Presenter::~Presenter() {
  if (!ctx_) return;
  vkDeviceWaitIdle(ctx_->device);
  exporter_.reset();
  readback_.reset();
  frame_image_.reset();
  score_image_.reset();
  vkDestroyDescriptorPool(ctx_->device, descriptor_pool_, nullptr);
  vkDestroySampler(ctx_->device, nearest_, nullptr);
  vkDestroySampler(ctx_->device, linear_, nullptr);
  for (FrameSlot& s : slots_) {
    s.staging.reset();
    vkDestroySemaphore(ctx_->device, s.image_available, nullptr);
    vkDestroyFence(ctx_->device, s.in_flight, nullptr);
    vkDestroyCommandPool(ctx_->device, s.pool, nullptr);
  }
  pipelines_.reset();
  swapchain_.reset();
  vkDestroyRenderPass(ctx_->device, render_pass_, nullptr);
  ctx_.reset();
}

void Presenter::wait_idle() { vkDeviceWaitIdle(ctx_->device); }

const char* Presenter::present_mode_name() const {
  switch (swapchain_->present_mode) {
    case VK_PRESENT_MODE_FIFO_KHR: return "FIFO";
    case VK_PRESENT_MODE_MAILBOX_KHR: return "MAILBOX";
    case VK_PRESENT_MODE_IMMEDIATE_KHR: return "IMMEDIATE";
    default: return "other";
  }
}

bool Presenter::window_drawable(VkExtent2D& size) const {
  if (SDL_GetWindowFlags(window_) & SDL_WINDOW_MINIMIZED) return false;
  int w = 0, h = 0;
  SDL_Vulkan_GetDrawableSize(window_, &w, &h);
  if (w <= 0 || h <= 0) return false;
  size = {static_cast<uint32_t>(w), static_cast<uint32_t>(h)};
  return true;
}

void Presenter::rebuild_swapchain(VkExtent2D size) {
  vkDeviceWaitIdle(ctx_->device);
  auto fresh = std::make_unique<Swapchain>(*ctx_, render_pass_, surface_format_.format, size, options_.vsync,
                                           swapchain_->handle);
  swapchain_ = std::move(fresh);
  resize_requested_ = false;
  if (on_rebuilt_) on_rebuilt_(swapchain_->min_image_count);
}

void Presenter::write_descriptors() {
  std::vector<VkDescriptorImageInfo> infos;
  std::vector<VkWriteDescriptorSet> writes;
  infos.reserve(3);
  auto add = [&](VkDescriptorSet set, VkSampler sampler, VkImageView view) {
    infos.push_back({sampler, view, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL});
    VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w.dstSet = set;
    w.descriptorCount = 1;
    w.descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER;
    w.pImageInfo = &infos.back();
    writes.push_back(w);
  };
  if (frame_image_) {
    add(frame_set_nearest_, nearest_, frame_image_->view());
    add(frame_set_linear_, linear_, frame_image_->view());
  }
  if (score_image_) add(score_set_, nearest_, score_image_->view());
  vkUpdateDescriptorSets(ctx_->device, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);
}

void Presenter::ensure_textures(const DrawRequest& r) {
  const int fw = r.external ? r.external->width : r.frame_width;
  const int fh = r.external ? r.external->height : r.frame_height;
  const bool frame_changed =
      (r.frame_rgb || r.external) && (!frame_image_ || frame_image_->width() != static_cast<uint32_t>(fw) ||
                                      frame_image_->height() != static_cast<uint32_t>(fh));
  const bool scores_changed =
      r.scores && (!score_image_ || score_image_->width() != static_cast<uint32_t>(r.score_cols) ||
                   score_image_->height() != static_cast<uint32_t>(r.score_rows));
  if (!frame_changed && !scores_changed) return;
  vkDeviceWaitIdle(ctx_->device);  // the old images may still be read by frames in flight
  if (frame_changed) {
    frame_image_ = std::make_unique<SampledImage>(*ctx_, VK_FORMAT_R8G8B8A8_UNORM, fw, fh);
    frame_valid_ = false;
  }
  if (scores_changed) {
    score_image_ = std::make_unique<SampledImage>(*ctx_, VK_FORMAT_R32_SFLOAT, r.score_cols, r.score_rows);
    scores_valid_ = false;
  }
  write_descriptors();
}

void Presenter::record_uploads(FrameSlot& slot, const DrawRequest& r) {
  if (r.external) {  // the decoder wrote it on the GPU; the submit waits for its ready value
    frame_image_->record_upload(slot.cmd, r.external->buffer, r.external->offset);
    frame_valid_ = true;
  }
  const bool host_frame = r.frame_rgb && !r.external;
  const VkDeviceSize frame_bytes =
      host_frame ? static_cast<VkDeviceSize>(r.frame_width) * r.frame_height * 4 : 0;
  const VkDeviceSize score_offset = align_up(frame_bytes, kScoreOffsetAlign);
  const VkDeviceSize score_bytes = r.scores ? static_cast<VkDeviceSize>(r.score_rows) * r.score_cols * 4 : 0;
  const VkDeviceSize need = score_offset + score_bytes;
  if (need == 0) return;
  if (!slot.staging || slot.staging->size() < need)
    slot.staging = std::make_unique<MappedBuffer>(*ctx_, need, VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
  auto* base = static_cast<uint8_t*>(slot.staging->data());
  if (host_frame) {
    // The copy into the mapped buffer is the host side of the upload: RGB8 -> RGBA8.
    const size_t pixels = static_cast<size_t>(r.frame_width) * r.frame_height;
    const uint8_t* src = r.frame_rgb;
    uint8_t* dst = base;
    for (size_t i = 0; i < pixels; ++i, src += 3, dst += 4) {
      dst[0] = src[0];
      dst[1] = src[1];
      dst[2] = src[2];
      dst[3] = 255;
    }
    frame_image_->record_upload(slot.cmd, slot.staging->buffer(), 0);
    frame_valid_ = true;
  }
  if (r.scores) {
    const size_t n = static_cast<size_t>(r.score_rows) * r.score_cols;
    float lo = r.scores[0], hi = r.scores[0];
    for (size_t i = 1; i < n; ++i) lo = std::min(lo, r.scores[i]), hi = std::max(hi, r.scores[i]);
    const float scale = hi > lo ? 1.0f / (hi - lo) : 0.0f;
    auto* dst = reinterpret_cast<float*>(base + score_offset);
    for (size_t i = 0; i < n; ++i) dst[i] = (r.scores[i] - lo) * scale;
    score_image_->record_upload(slot.cmd, slot.staging->buffer(), score_offset);
    scores_valid_ = true;
  }
}

Rect Presenter::letterbox(VkExtent2D target) const {
  if (!frame_image_) return {0, 0, static_cast<float>(target.width), static_cast<float>(target.height)};
  const float tw = static_cast<float>(target.width), th = static_cast<float>(target.height);
  const float fw = static_cast<float>(frame_image_->width()), fh = static_cast<float>(frame_image_->height());
  const float scale = std::min(tw / fw, th / fh);
  const float w = std::floor(fw * scale), h = std::floor(fh * scale);
  return {std::floor((tw - w) * 0.5f), std::floor((th - h) * 0.5f), w, h};
}

void Presenter::record_screenshot_copy(VkCommandBuffer cmd, VkImage image) {
  const VkExtent2D e = swapchain_->extent;
  const VkDeviceSize bytes = static_cast<VkDeviceSize>(e.width) * e.height * 4;
  if (!readback_ || readback_->size() < bytes)
    readback_ = std::make_unique<MappedBuffer>(*ctx_, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  VkImageMemoryBarrier b{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
  b.srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
  b.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
  b.oldLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR;
  b.newLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
  b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
  b.image = image;
  b.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0,
                       nullptr, 0, nullptr, 1, &b);
  VkBufferImageCopy region{};
  region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
  region.imageExtent = {e.width, e.height, 1};
  vkCmdCopyImageToBuffer(cmd, image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, readback_->buffer(), 1, &region);
  b.srcAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
  b.dstAccessMask = 0;
  b.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
  b.newLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0, nullptr, 0,
                       nullptr, 1, &b);
}

void Presenter::save_screenshot(const std::string& path) {
  const VkExtent2D e = swapchain_->extent;
  const auto* src = static_cast<const uint8_t*>(readback_->data());
  const bool bgra = surface_format_.format == VK_FORMAT_B8G8R8A8_UNORM || surface_format_.format == VK_FORMAT_B8G8R8A8_SRGB;
  std::vector<uint8_t> rgb(static_cast<size_t>(e.width) * e.height * 3);
  for (size_t i = 0, n = static_cast<size_t>(e.width) * e.height; i < n; ++i) {
    rgb[i * 3 + 0] = src[i * 4 + (bgra ? 2 : 0)];
    rgb[i * 3 + 1] = src[i * 4 + 1];
    rgb[i * 3 + 2] = src[i * 4 + (bgra ? 0 : 2)];
  }
  if (!stbi_write_png(path.c_str(), static_cast<int>(e.width), static_cast<int>(e.height), 3, rgb.data(),
                      static_cast<int>(e.width) * 3))
    screenshot_error_ = "cannot write screenshot '" + path + "'";
}

DrawResult Presenter::draw(const DrawRequest& r) {
  VkExtent2D size;
  if (!window_drawable(size)) {  // minimised: nothing to render into
    release_external(r);
    return DrawResult::Skipped;
  }
  if (resize_requested_ || size.width != swapchain_->extent.width || size.height != swapchain_->extent.height)
    rebuild_swapchain(size);

  FrameSlot& slot = slots_[frame_number_ % kFramesInFlight];
  WL_VK_CHECK(vkWaitForFences(ctx_->device, 1, &slot.in_flight, VK_TRUE, UINT64_MAX));

  uint32_t image_index = 0;
  VkResult acq = vkAcquireNextImageKHR(ctx_->device, swapchain_->handle, UINT64_MAX, slot.image_available,
                                       VK_NULL_HANDLE, &image_index);
  if (acq == VK_ERROR_OUT_OF_DATE_KHR) {
    rebuild_swapchain(size);
    release_external(r);
    return DrawResult::Skipped;
  }
  if (acq == VK_SUBOPTIMAL_KHR) resize_requested_ = true;  // draw this one, rebuild before the next
  else if (acq != VK_SUCCESS) vk_fail(acq, "vkAcquireNextImageKHR");

  ensure_textures(r);
  WL_VK_CHECK(vkResetFences(ctx_->device, 1, &slot.in_flight));
  WL_VK_CHECK(vkResetCommandPool(ctx_->device, slot.pool, 0));
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  WL_VK_CHECK(vkBeginCommandBuffer(slot.cmd, &bi));
  record_uploads(slot, r);

  const SwapchainImage& target = swapchain_->images[image_index];
  VkClearValue clear{};
  clear.color = {{0.06f, 0.06f, 0.07f, 1.0f}};
  VkRenderPassBeginInfo rbi{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
  rbi.renderPass = render_pass_;
  rbi.framebuffer = target.framebuffer;
  rbi.renderArea = {{0, 0}, swapchain_->extent};
  rbi.clearValueCount = 1;
  rbi.pClearValues = &clear;
  vkCmdBeginRenderPass(slot.cmd, &rbi, VK_SUBPASS_CONTENTS_INLINE);

  frame_rect_ = letterbox(swapchain_->extent);
  if (frame_valid_) {
    VkViewport vp{frame_rect_.x, frame_rect_.y, frame_rect_.w, frame_rect_.h, 0.0f, 1.0f};
    VkRect2D scissor{{static_cast<int32_t>(frame_rect_.x), static_cast<int32_t>(frame_rect_.y)},
                     {static_cast<uint32_t>(frame_rect_.w), static_cast<uint32_t>(frame_rect_.h)}};
    vkCmdSetViewport(slot.cmd, 0, 1, &vp);
    vkCmdSetScissor(slot.cmd, 0, 1, &scissor);
    VkDescriptorSet set = r.linear_filter ? frame_set_linear_ : frame_set_nearest_;
    vkCmdBindPipeline(slot.cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipelines_->blit());
    vkCmdBindDescriptorSets(slot.cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipelines_->layout(), 0, 1, &set, 0, nullptr);
    vkCmdDraw(slot.cmd, 3, 1, 0, 0);
    if (r.show_heatmap && scores_valid_) {
      vkCmdBindPipeline(slot.cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipelines_->heatmap());
      vkCmdBindDescriptorSets(slot.cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipelines_->layout(), 0, 1, &score_set_, 0,
                              nullptr);
      vkCmdPushConstants(slot.cmd, pipelines_->layout(), VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof(HeatmapParams),
                         &r.heatmap);
      vkCmdDraw(slot.cmd, 3, 1, 0, 0);
    }
  }
  if (r.overlay) {
    VkViewport full{0, 0, static_cast<float>(swapchain_->extent.width),
                    static_cast<float>(swapchain_->extent.height), 0.0f, 1.0f};
    vkCmdSetViewport(slot.cmd, 0, 1, &full);
    r.overlay(slot.cmd);
  }
  vkCmdEndRenderPass(slot.cmd);

  const bool screenshot = !r.screenshot_path.empty();
  if (screenshot) {
    if (swapchain_->can_read_back) record_screenshot_copy(slot.cmd, target.image);
    else screenshot_error_ = "this Vulkan surface cannot read back swapchain images (no TRANSFER_SRC usage)";
  }
  WL_VK_CHECK(vkEndCommandBuffer(slot.cmd));

  const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.waitSemaphoreCount = 1;
  si.pWaitSemaphores = &slot.image_available;
  si.pWaitDstStageMask = &wait_stage;
  si.commandBufferCount = 1;
  si.pCommandBuffers = &slot.cmd;
  si.signalSemaphoreCount = 1;
  si.pSignalSemaphores = &target.render_complete;
  // CUDA hand-off: also wait for the frame's ready value (timeline) before the
  // copy, and signal its release value (binary semaphores ignore the values).
  const VkSemaphore ext_waits[2] = {slot.image_available, r.external ? r.external->ready : VK_NULL_HANDLE};
  const VkPipelineStageFlags ext_stages[2] = {wait_stage, VK_PIPELINE_STAGE_TRANSFER_BIT};
  const uint64_t ext_wait_values[2] = {0, r.external ? r.external->ready_value : 0};
  const VkSemaphore ext_signals[2] = {target.render_complete, r.external ? r.external->release : VK_NULL_HANDLE};
  const uint64_t ext_signal_values[2] = {0, r.external ? r.external->release_value : 0};
  VkTimelineSemaphoreSubmitInfo timeline{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  if (r.external) {
    timeline.waitSemaphoreValueCount = 2;
    timeline.pWaitSemaphoreValues = ext_wait_values;
    timeline.signalSemaphoreValueCount = 2;
    timeline.pSignalSemaphoreValues = ext_signal_values;
    si.pNext = &timeline;
    si.waitSemaphoreCount = 2;
    si.pWaitSemaphores = ext_waits;
    si.pWaitDstStageMask = ext_stages;
    si.signalSemaphoreCount = 2;
    si.pSignalSemaphores = ext_signals;
  }
  WL_VK_CHECK(vkQueueSubmit(ctx_->queue, 1, &si, slot.in_flight));

  VkPresentInfoKHR pi{VK_STRUCTURE_TYPE_PRESENT_INFO_KHR};
  pi.waitSemaphoreCount = 1;
  pi.pWaitSemaphores = &target.render_complete;
  pi.swapchainCount = 1;
  pi.pSwapchains = &swapchain_->handle;
  pi.pImageIndices = &image_index;
  const VkResult pres = vkQueuePresentKHR(ctx_->queue, &pi);
  if (pres == VK_ERROR_OUT_OF_DATE_KHR || pres == VK_SUBOPTIMAL_KHR) resize_requested_ = true;
  else if (pres != VK_SUCCESS) vk_fail(pres, "vkQueuePresentKHR");

  if (screenshot && swapchain_->can_read_back) {
    WL_VK_CHECK(vkWaitForFences(ctx_->device, 1, &slot.in_flight, VK_TRUE, UINT64_MAX));
    screenshot_error_.clear();
    save_screenshot(r.screenshot_path);
  }
  ++frame_number_;
  return DrawResult::Presented;
}

void Presenter::release_external(const DrawRequest& r) {
  if (!r.external) return;
  // The decoder waits for this release value before rewriting the slot, so a
  // skipped frame must still signal it: from the host, after every earlier
  // submit (whose release values are lower) has completed.
  for (auto& s : slots_) WL_VK_CHECK(vkWaitForFences(ctx_->device, 1, &s.in_flight, VK_TRUE, UINT64_MAX));
  auto signal = reinterpret_cast<PFN_vkSignalSemaphoreKHR>(vkGetDeviceProcAddr(ctx_->device, "vkSignalSemaphoreKHR"));
  if (!signal) throw std::runtime_error("vkSignalSemaphoreKHR unavailable: the device has no timeline semaphores");
  VkSemaphoreSignalInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
  info.semaphore = r.external->release;
  info.value = r.external->release_value;
  WL_VK_CHECK(signal(ctx_->device, &info));
}

void Presenter::run_one_time(const std::function<void(VkCommandBuffer)>& fn) {
  FrameSlot& slot = slots_[frame_number_ % kFramesInFlight];
  WL_VK_CHECK(vkWaitForFences(ctx_->device, 1, &slot.in_flight, VK_TRUE, UINT64_MAX));
  WL_VK_CHECK(vkResetCommandPool(ctx_->device, slot.pool, 0));
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  WL_VK_CHECK(vkBeginCommandBuffer(slot.cmd, &bi));
  fn(slot.cmd);
  WL_VK_CHECK(vkEndCommandBuffer(slot.cmd));
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &slot.cmd;
  WL_VK_CHECK(vkQueueSubmit(ctx_->queue, 1, &si, VK_NULL_HANDLE));
  WL_VK_CHECK(vkQueueWaitIdle(ctx_->queue));
}

}  // namespace wl::render
