// Vulkan error handling: every failing call becomes a std::runtime_error that
// names the call and the result.
#pragma once

#include <stdexcept>
#include <string>

#include <vulkan/vulkan.h>

namespace wl::render {

const char* vk_result_name(VkResult r);

[[noreturn]] inline void vk_fail(VkResult r, const char* what) {
  throw std::runtime_error(std::string(what) + " failed: " + vk_result_name(r));
}

}  // namespace wl::render

#define WL_VK_CHECK(call)                                   \
  do {                                                      \
    const VkResult wl_vk_result_ = (call);                  \
    if (wl_vk_result_ != VK_SUCCESS) ::wl::render::vk_fail(wl_vk_result_, #call); \
  } while (0)
