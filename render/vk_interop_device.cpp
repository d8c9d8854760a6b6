#include "render/vk_interop_device.h"

#include <cstring>

#include "render/vk_check.h"
#include "render/vk_driver_problem.h"
#include "runtime/core/error.h"

namespace wl::render {

namespace {

bool has_extension(const std::vector<VkExtensionProperties>& exts, const char* name) {
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

int device_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

}  // namespace

std::vector<const char*> InteropSupport::device_extensions() const {
  std::vector<const char*> out;
  if (external_memory_fd) {
    out.push_back(VK_KHR_EXTERNAL_MEMORY_EXTENSION_NAME);
    out.push_back(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
  }
  if (external_semaphore_fd) {
    out.push_back(VK_KHR_EXTERNAL_SEMAPHORE_EXTENSION_NAME);
    out.push_back(VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
  }
  if (timeline_semaphore) out.push_back(VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME);
  return out;
}

std::string InteropSupport::missing() const {
  std::string s;
  auto add = [&](bool ok, const char* what) {
    if (ok) return;
    if (!s.empty()) s += ", ";
    s += what;
  };
  add(external_memory_fd, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
  add(external_semaphore_fd, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
  add(timeline_semaphore, "timeline semaphores (" VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME ")");
  return s;
}

InteropSupport query_interop_support(VkPhysicalDevice pd) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  if (n) vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data());
  InteropSupport s;
  s.external_memory_fd = has_extension(exts, VK_KHR_EXTERNAL_MEMORY_EXTENSION_NAME) &&
                         has_extension(exts, VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
  s.external_semaphore_fd = has_extension(exts, VK_KHR_EXTERNAL_SEMAPHORE_EXTENSION_NAME) &&
                            has_extension(exts, VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
  if (has_extension(exts, VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME)) {
    VkPhysicalDeviceTimelineSemaphoreFeatures tf{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &tf;
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    s.timeline_semaphore = tf.timelineSemaphore == VK_TRUE;
  }
  return s;
}

HeadlessVkDevice::HeadlessVkDevice() {
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "worldloop";
  app.pEngineName = "worldloop";
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pApplicationInfo = &app;
  const VkResult r = vkCreateInstance(&ici, nullptr, &instance_);
  if (is_driver_problem(r))
    throw Error(describe_vulkan_driver_problem(vulkan_driver_facts(), std::string("vkCreateInstance: ") + vk_result_name(r)));
  WL_VK_CHECK(r);

  uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance_, &n, nullptr);
  std::vector<VkPhysicalDevice> devices(n);
  if (n) vkEnumeratePhysicalDevices(instance_, &n, devices.data());
  int best_rank = 1 << 30;
  VkPhysicalDeviceProperties best_props{};
  for (VkPhysicalDevice pd : devices) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(pd, &props);
    if (props.apiVersion < VK_API_VERSION_1_1) continue;
    uint32_t qn = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, nullptr);
    std::vector<VkQueueFamilyProperties> families(qn);
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, families.data());
    // A graphics queue where there is one; compute-only GPUs (data-centre
    // parts) offer compute queues, which can copy as well.
    int family = -1;
    for (uint32_t q = 0; q < qn && family < 0; ++q)
      if (families[q].queueFlags & VK_QUEUE_GRAPHICS_BIT) family = static_cast<int>(q);
    for (uint32_t q = 0; q < qn && family < 0; ++q)
      if (families[q].queueFlags & VK_QUEUE_COMPUTE_BIT) family = static_cast<int>(q);
    if (family < 0) continue;
    if (device_rank(props.deviceType) < best_rank) {
      best_rank = device_rank(props.deviceType);
      dev_.physical_device = pd;
      dev_.queue_family = static_cast<uint32_t>(family);
      best_props = props;
    }
  }
  if (!dev_.physical_device) {
    vkDestroyInstance(instance_, nullptr);
    throw Error("no Vulkan device with a graphics or compute queue found");
  }
  name_ = best_props.deviceName;
  dev_.enabled = query_interop_support(dev_.physical_device);

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = dev_.queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  const std::vector<const char*> exts = dev_.enabled.device_extensions();
  VkPhysicalDeviceTimelineSemaphoreFeatures tf{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
  tf.timelineSemaphore = VK_TRUE;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  if (dev_.enabled.timeline_semaphore) dci.pNext = &tf;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  dci.ppEnabledExtensionNames = exts.data();
  const VkResult dr = vkCreateDevice(dev_.physical_device, &dci, nullptr, &dev_.device);
  if (dr != VK_SUCCESS) {
    vkDestroyInstance(instance_, nullptr);
    vk_fail(dr, "vkCreateDevice");
  }
  vkGetDeviceQueue(dev_.device, dev_.queue_family, 0, &dev_.queue);
}

HeadlessVkDevice::~HeadlessVkDevice() {
  if (dev_.device) vkDestroyDevice(dev_.device, nullptr);
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

}  // namespace wl::render
