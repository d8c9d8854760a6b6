// Vulkan error handling: every failing call becomes a std::runtime_error that
// names the call and the result.
#pragma once

#include <stdexcept>
#include <string>

#include <vulkan/vulkan.h>

namespace wl::render {

const char* vk_result_name(VkResult r);

// A lost device (the driver crashed or the GPU was reset) ends the window
// with that said plainly; the world's own state is on the host and intact.
[[noreturn]] inline void vk_fail(VkResult r, const char* what) {
  if (r == VK_ERROR_DEVICE_LOST)
    throw std::runtime_error(std::string("the Vulkan device was lost (its driver crashed or the GPU was reset) in ") +
                             what + "; start play again, or play with --headless");
  throw std::runtime_error(std::string(what) + " failed: " + vk_result_name(r));
}

}  // namespace wl::render

#define WL_VK_CHECK(call)                                   \
  do {                                                      \
    const VkResult wl_vk_result_ = (call);                  \
    if (wl_vk_result_ != VK_SUCCESS) ::wl::render::vk_fail(wl_vk_result_, #call); \
  } while (0)
