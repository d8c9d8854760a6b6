// The Vulkan presenter (vkguide-style): a ring of two frames in flight, each
// with its command buffer, fence, image-available semaphore and persistently
// mapped staging buffer; one render-complete semaphore per swapchain image; a
// resize flag that rebuilds the swapchain before the next frame (also on
// VK_ERROR_OUT_OF_DATE_KHR / VK_SUBOPTIMAL_KHR). A minimised or zero-sized
// window is not drawn.
//
// Every drawn frame: new frame pixels (RGB8, if any) are expanded into the
// slot's staging buffer and copied to the sampled frame image; the render pass
// clears, blits the frame into its letterboxed rectangle, optionally blends
// the token-score heatmap over it, then lets the overlay record its draws.
//
// Asked for it (PresenterOptions::cuda_interop) on a device that has the
// extensions, the presenter also offers an exportable frame ring
// (frame_exporter(), render/cuda_vk_interop.h): a CUDA decoder writes frames
// there and a draw copies them on the GPU (DrawRequest::external).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <SDL.h>
#include <vulkan/vulkan.h>

#include "render/blit_pipelines.h"
#include "render/cuda_vk_interop.h"
#include "render/gpu_resources.h"
#include "render/swapchain.h"
#include "render/vk_context.h"

namespace wl::render {

struct PresenterOptions {
  bool vsync = true;
  bool validation = false;
  bool cuda_interop = false;  // create the device with the CUDA frame hand-off's extensions where it has them
};

struct Rect {
  float x = 0, y = 0, w = 0, h = 0;
};

struct DrawRequest {
  // New frame pixels, or null to keep showing the previous frame.
  const uint8_t* frame_rgb = nullptr;
  int frame_width = 0, frame_height = 0;
  // CUDA hand-off (render/cuda_vk_interop.h, VkFrameExporter::take_pending):
  // the new frame is copied from this device buffer (RGBA8) instead of
  // frame_rgb, once the GPU has seen its ready timeline value; the submit
  // signals its release value. Needs a device with timeline semaphores.
  std::optional<ExternalFrame> external;
  // New token scores (row-major, any range; normalised here), or null.
  const float* scores = nullptr;
  int score_rows = 0, score_cols = 0;

  bool linear_filter = false;
  bool show_heatmap = false;
  HeatmapParams heatmap;
  // Records the overlay's draws inside the render pass.
  std::function<void(VkCommandBuffer)> overlay;
  // Non-empty: after this frame, write the presented image (overlay included) here.
  std::string screenshot_path;
};

enum class DrawResult { Presented, Skipped };

class Presenter {
 public:
  static constexpr int kFramesInFlight = 2;

  Presenter(SDL_Window* window, PresenterOptions options);
  ~Presenter();
  Presenter(const Presenter&) = delete;
  Presenter& operator=(const Presenter&) = delete;

  // Throws on device loss and other fatal errors; a failed screenshot is
  // reported through screenshot_error() instead.
  DrawResult draw(const DrawRequest& request);
  void notify_resized() { resize_requested_ = true; }
  void wait_idle();

  // The window's drawable size in pixels.
  VkExtent2D extent() const { return swapchain_->extent; }
  const char* present_mode_name() const;
  const std::string& screenshot_error() const { return screenshot_error_; }

  // The exportable frame ring of the CUDA hand-off, or null when the device
  // was created without its extensions; then frame_export_unavailable() says why.
  VkFrameExporter* frame_exporter() { return exporter_.get(); }
  const std::string& frame_export_unavailable() const { return ctx_->interop_unavailable; }

  // For the overlay's Vulkan backend.
  const VkContext& context() const { return *ctx_; }
  VkRenderPass render_pass() const { return render_pass_; }
  uint32_t min_image_count() const { return swapchain_->min_image_count; }
  uint32_t image_count() const { return static_cast<uint32_t>(swapchain_->images.size()); }
  void set_swapchain_rebuilt_callback(std::function<void(uint32_t min_image_count)> cb) { on_rebuilt_ = std::move(cb); }
  // Records `fn` into a one-time command buffer, submits it and waits.
  void run_one_time(const std::function<void(VkCommandBuffer)>& fn);

 private:
  struct FrameSlot {
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence in_flight = VK_NULL_HANDLE;
    VkSemaphore image_available = VK_NULL_HANDLE;
    std::unique_ptr<MappedBuffer> staging;
  };

  bool window_drawable(VkExtent2D& size) const;
  void rebuild_swapchain(VkExtent2D size);
  void ensure_textures(const DrawRequest& r);
  void write_descriptors();
  void record_uploads(FrameSlot& slot, const DrawRequest& r);
  void release_external(const DrawRequest& r);  // a skipped draw still releases its CUDA slot
  void record_screenshot_copy(VkCommandBuffer cmd, VkImage image);
  void save_screenshot(const std::string& path);
  Rect letterbox(VkExtent2D target) const;

  SDL_Window* window_;
  PresenterOptions options_;
  std::unique_ptr<VkContext> ctx_;
  VkSurfaceFormatKHR surface_format_{};
  VkRenderPass render_pass_ = VK_NULL_HANDLE;
  std::unique_ptr<Swapchain> swapchain_;
  std::unique_ptr<BlitPipelines> pipelines_;
  std::array<FrameSlot, kFramesInFlight> slots_;
  uint64_t frame_number_ = 0;
  bool resize_requested_ = false;

  VkSampler nearest_ = VK_NULL_HANDLE, linear_ = VK_NULL_HANDLE;
  VkDescriptorPool descriptor_pool_ = VK_NULL_HANDLE;
  VkDescriptorSet frame_set_nearest_ = VK_NULL_HANDLE, frame_set_linear_ = VK_NULL_HANDLE;
  VkDescriptorSet score_set_ = VK_NULL_HANDLE;
  std::unique_ptr<SampledImage> frame_image_, score_image_;
  bool frame_valid_ = false, scores_valid_ = false;
  Rect frame_rect_;

  std::unique_ptr<MappedBuffer> readback_;
  std::string screenshot_error_;
  std::unique_ptr<VkFrameExporter> exporter_;
  std::function<void(uint32_t)> on_rebuilt_;
};

}  // namespace wl::render
