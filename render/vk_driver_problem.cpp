#include "render/vk_driver_problem.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace wl::render {

VulkanDriverFacts vulkan_driver_facts() {
  VulkanDriverFacts f;
  // VK_DRIVER_FILES is the newer name; the loader prefers it over VK_ICD_FILENAMES.
  for (const char* name : {"VK_DRIVER_FILES", "VK_ICD_FILENAMES"}) {
    const char* v = std::getenv(name);
    if (v && *v) {
      f.override_variable = name;
      f.override_value = v;
      break;
    }
  }
  const std::vector<std::string> folders = {"/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d",
                                            "/etc/vulkan/icd.d"};
  for (const std::string& dir : folders) {
    f.folders += (f.folders.empty() ? "" : ", ") + dir;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().extension() == ".json") f.installed.push_back(e.path().filename().string());
  }
  std::sort(f.installed.begin(), f.installed.end());
  return f;
}

std::string describe_vulkan_driver_problem(const VulkanDriverFacts& f, const std::string& detail) {
  std::string s = "no Vulkan driver: ";
  if (!f.override_variable.empty()) {
    s += f.override_variable + "='" + f.override_value + "' names no driver that loads and starts; unset it to use " +
         (f.installed.empty() ? std::string("the installed drivers (none found in ") + f.folders + ")"
                              : "the installed ones in " + f.folders);
  } else if (f.installed.empty()) {
    s += "none is installed (no manifest in " + f.folders +
         "); install mesa-vulkan-drivers for lavapipe, a CPU implementation, or your GPU's driver";
  } else {
    std::string names;
    for (const std::string& n : f.installed) names += (names.empty() ? "" : ", ") + n;
    s += "none of the installed drivers (" + names +
         ") loads and starts here; reinstall them (Debian: mesa-vulkan-drivers) or play with --headless";
  }
  if (!detail.empty()) s += " (" + detail + ")";
  return s;
}

}  // namespace wl::render
