// One line that says why no Vulkan driver could be used, and what to do about
// it: the loader's own errors ("Installed Vulkan doesn't implement the
// VK_KHR_surface extension") describe a symptom, not the cause. The cause is
// one of: the driver list was overridden by the environment, no driver is
// installed, or the installed drivers' manifests name libraries that do not
// load or do not start.
#pragma once
#include <string>
#include <vector>

#include <vulkan/vulkan.h>

namespace wl::render {

struct VulkanDriverFacts {
  std::string override_variable;          // VK_DRIVER_FILES or VK_ICD_FILENAMES when set, else empty
  std::string override_value;             // its value
  std::vector<std::string> installed;     // ICD manifests in the standard folders (file names)
  std::string folders;                    // the folders searched, for the message
};

// The vkCreateInstance results that mean "no driver loaded and started".
inline bool is_driver_problem(VkResult r) {
  return r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED || r == VK_ERROR_EXTENSION_NOT_PRESENT;
}

// The facts of this process: its environment and the standard ICD folders.
VulkanDriverFacts vulkan_driver_facts();

// "no Vulkan driver: <cause>; <remedy>", ending with `detail` (what the loader
// or the failing call said) in parentheses when it is not empty.
std::string describe_vulkan_driver_problem(const VulkanDriverFacts& facts, const std::string& detail);

}  // namespace wl::render
