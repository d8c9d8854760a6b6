// The window's swapchain: images, views, framebuffers for the presenter's
// render pass and one render-complete semaphore per image (an image's
// semaphore is reused only when that image comes back from presentation).
#pragma once

#include <vector>

#include <vulkan/vulkan.h>

#include "render/vk_context.h"

namespace wl::render {

struct SwapchainImage {
  VkImage image = VK_NULL_HANDLE;
  VkImageView view = VK_NULL_HANDLE;
  VkFramebuffer framebuffer = VK_NULL_HANDLE;
  VkSemaphore render_complete = VK_NULL_HANDLE;
};

class Swapchain {
 public:
  // FIFO when vsync; otherwise MAILBOX, else IMMEDIATE, else FIFO.
  Swapchain(const VkContext& ctx, VkRenderPass pass, VkFormat format, VkExtent2D wanted, bool vsync,
            VkSwapchainKHR old = VK_NULL_HANDLE);
  ~Swapchain();
  Swapchain(const Swapchain&) = delete;
  Swapchain& operator=(const Swapchain&) = delete;

  // The colour format the presenter should build its render pass for.
  static VkSurfaceFormatKHR choose_format(const VkContext& ctx);

  VkSwapchainKHR handle = VK_NULL_HANDLE;
  VkExtent2D extent{};
  VkPresentModeKHR present_mode = VK_PRESENT_MODE_FIFO_KHR;
  uint32_t min_image_count = 2;
  bool can_read_back = false;  // images allow TRANSFER_SRC (screenshots)
  std::vector<SwapchainImage> images;

 private:
  const VkContext& ctx_;
};

}  // namespace wl::render
