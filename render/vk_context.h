// The Vulkan instance, window surface, device and graphics/present queue for
// one SDL window. Any device type is accepted (discrete preferred, Mesa's
// lavapipe CPU device last), so the app also runs where there is no GPU.
#pragma once

#include <string>

#include <SDL.h>
#include <vulkan/vulkan.h>

namespace wl::render {

struct VkContextOptions {
  bool validation = false;  // enable VK_LAYER_KHRONOS_validation when present
};

class VkContext {
 public:
  VkContext(SDL_Window* window, VkContextOptions options);
  ~VkContext();
  VkContext(const VkContext&) = delete;
  VkContext& operator=(const VkContext&) = delete;

  VkInstance instance = VK_NULL_HANDLE;
  VkSurfaceKHR surface = VK_NULL_HANDLE;
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t queue_family = 0;
  VkQueue queue = VK_NULL_HANDLE;
  VkPhysicalDeviceProperties properties{};
  std::string device_name;
  bool validation_enabled = false;

  // Index of a memory type with `flags` among `type_bits`; throws if none.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags flags) const;

 private:
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
};

}  // namespace wl::render
