#include "render/swapchain.h"

#include <algorithm>

#include "render/vk_check.h"

namespace wl::render {

VkSurfaceFormatKHR Swapchain::choose_format(const VkContext& ctx) {
  uint32_t n = 0;
  vkGetPhysicalDeviceSurfaceFormatsKHR(ctx.physical_device, ctx.surface, &n, nullptr);
  std::vector<VkSurfaceFormatKHR> formats(n);
  vkGetPhysicalDeviceSurfaceFormatsKHR(ctx.physical_device, ctx.surface, &n, formats.data());
  // UNORM: frames and ImGui colours are already sRGB-encoded values.
  for (VkFormat want : {VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM})
    for (const auto& f : formats)
      if (f.format == want && f.colorSpace == VK_COLOR_SPACE_SRGB_NONLINEAR_KHR) return f;
  if (formats.empty()) throw std::runtime_error("the window surface offers no formats");
  return formats.front();
}

Swapchain::Swapchain(const VkContext& ctx, VkRenderPass pass, VkFormat format, VkExtent2D wanted, bool vsync,
                     VkSwapchainKHR old)
    : ctx_(ctx) {
  VkSurfaceCapabilitiesKHR caps;
  WL_VK_CHECK(vkGetPhysicalDeviceSurfaceCapabilitiesKHR(ctx.physical_device, ctx.surface, &caps));
  if (caps.currentExtent.width != UINT32_MAX) {
    extent = caps.currentExtent;
  } else {
    extent.width = std::clamp(wanted.width, caps.minImageExtent.width, caps.maxImageExtent.width);
    extent.height = std::clamp(wanted.height, caps.minImageExtent.height, caps.maxImageExtent.height);
  }

  uint32_t mode_count = 0;
  vkGetPhysicalDeviceSurfacePresentModesKHR(ctx.physical_device, ctx.surface, &mode_count, nullptr);
  std::vector<VkPresentModeKHR> modes(mode_count);
  vkGetPhysicalDeviceSurfacePresentModesKHR(ctx.physical_device, ctx.surface, &mode_count, modes.data());
  present_mode = VK_PRESENT_MODE_FIFO_KHR;
  if (!vsync) {
    for (VkPresentModeKHR want : {VK_PRESENT_MODE_MAILBOX_KHR, VK_PRESENT_MODE_IMMEDIATE_KHR})
      if (std::find(modes.begin(), modes.end(), want) != modes.end()) {
        present_mode = want;
        break;
      }
  }

  min_image_count = std::max(2u, caps.minImageCount + 1);
  if (caps.maxImageCount) min_image_count = std::min(min_image_count, caps.maxImageCount);
  can_read_back = (caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_SRC_BIT) != 0;

  VkSwapchainCreateInfoKHR sci{VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR};
  sci.surface = ctx.surface;
  sci.minImageCount = min_image_count;
  sci.imageFormat = format;
  sci.imageColorSpace = VK_COLOR_SPACE_SRGB_NONLINEAR_KHR;
  sci.imageExtent = extent;
  sci.imageArrayLayers = 1;
  sci.imageUsage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | (can_read_back ? VK_IMAGE_USAGE_TRANSFER_SRC_BIT : 0);
  sci.imageSharingMode = VK_SHARING_MODE_EXCLUSIVE;
  sci.preTransform = caps.currentTransform;
  sci.compositeAlpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
  if (!(caps.supportedCompositeAlpha & VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR))
    sci.compositeAlpha = VK_COMPOSITE_ALPHA_INHERIT_BIT_KHR;
  sci.presentMode = present_mode;
  sci.clipped = VK_TRUE;
  sci.oldSwapchain = old;
  WL_VK_CHECK(vkCreateSwapchainKHR(ctx.device, &sci, nullptr, &handle));

  uint32_t n = 0;
  vkGetSwapchainImagesKHR(ctx.device, handle, &n, nullptr);
  std::vector<VkImage> raw(n);
  vkGetSwapchainImagesKHR(ctx.device, handle, &n, raw.data());
  images.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    SwapchainImage& im = images[i];
    im.image = raw[i];
    VkImageViewCreateInfo vci{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
    vci.image = im.image;
    vci.viewType = VK_IMAGE_VIEW_TYPE_2D;
    vci.format = format;
    vci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    WL_VK_CHECK(vkCreateImageView(ctx.device, &vci, nullptr, &im.view));
    VkFramebufferCreateInfo fci{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
    fci.renderPass = pass;
    fci.attachmentCount = 1;
    fci.pAttachments = &im.view;
    fci.width = extent.width;
    fci.height = extent.height;
    fci.layers = 1;
    WL_VK_CHECK(vkCreateFramebuffer(ctx.device, &fci, nullptr, &im.framebuffer));
    VkSemaphoreCreateInfo semi{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    WL_VK_CHECK(vkCreateSemaphore(ctx.device, &semi, nullptr, &im.render_complete));
  }
}

Swapchain::~Swapchain() {
  for (SwapchainImage& im : images) {
    vkDestroySemaphore(ctx_.device, im.render_complete, nullptr);
    vkDestroyFramebuffer(ctx_.device, im.framebuffer, nullptr);
    vkDestroyImageView(ctx_.device, im.view, nullptr);
  }
  if (handle) vkDestroySwapchainKHR(ctx_.device, handle, nullptr);
}

}  // namespace wl::render
