#include "render/vk_context.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <vector>

#include <SDL_vulkan.h>

#include "render/vk_check.h"
#include "render/vk_driver_problem.h"

namespace wl::render {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

bool layer_available(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, nullptr);
  std::vector<VkLayerProperties> layers(n);
  vkEnumerateInstanceLayerProperties(&n, layers.data());
  for (const auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return true;
  return false;
}

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                     VkDebugUtilsMessageTypeFlagsEXT,
                                                     const VkDebugUtilsMessengerCallbackDataEXT* data, void*) {
  if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT)
    std::fprintf(stderr, "vulkan: %s\n", data->pMessage);
  return VK_FALSE;
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

bool has_device_extension(VkPhysicalDevice pd, const char* name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data());
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

}  // namespace

VkContext::VkContext(SDL_Window* window, VkContextOptions options) {
  unsigned ext_count = 0;
  if (!SDL_Vulkan_GetInstanceExtensions(window, &ext_count, nullptr))
    throw std::runtime_error(std::string("no Vulkan loader usable by SDL: ") + SDL_GetError());
  std::vector<const char*> extensions(ext_count);
  SDL_Vulkan_GetInstanceExtensions(window, &ext_count, extensions.data());

  std::vector<const char*> layers;
  if (options.validation && layer_available(kValidationLayer)) {
    layers.push_back(kValidationLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    validation_enabled = true;
  }

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "worldloop";
  app.pEngineName = "worldloop";
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ici.pApplicationInfo = &app;
  ici.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  ici.ppEnabledExtensionNames = extensions.data();
  ici.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ici.ppEnabledLayerNames = layers.data();
  const VkResult r = vkCreateInstance(&ici, nullptr, &instance);
  if (is_driver_problem(r))
    throw std::runtime_error(
        describe_vulkan_driver_problem(vulkan_driver_facts(), std::string("vkCreateInstance: ") + vk_result_name(r)));
  WL_VK_CHECK(r);

  if (validation_enabled) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT"));
    VkDebugUtilsMessengerCreateInfoEXT mci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                      VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    mci.pfnUserCallback = on_validation_message;
    if (create) create(instance, &mci, nullptr, &messenger_);
  }

  if (!SDL_Vulkan_CreateSurface(window, instance, &surface))
    throw std::runtime_error(std::string("cannot create a Vulkan surface for the window: ") + SDL_GetError());

  uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance, &n, nullptr);
  if (n == 0)
    throw std::runtime_error(describe_vulkan_driver_problem(vulkan_driver_facts(), "the loader lists no device"));
  std::vector<VkPhysicalDevice> devices(n);
  vkEnumeratePhysicalDevices(instance, &n, devices.data());
  int best_rank = 1 << 30;
  std::string seen;  // every device, named in the message when none presents
  for (VkPhysicalDevice pd : devices) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(pd, &props);
    seen += (seen.empty() ? "" : ", ") + std::string(props.deviceName);
    if (!has_device_extension(pd, VK_KHR_SWAPCHAIN_EXTENSION_NAME)) continue;
    uint32_t qn = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, nullptr);
    std::vector<VkQueueFamilyProperties> families(qn);
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, families.data());
    for (uint32_t q = 0; q < qn; ++q) {
      VkBool32 present = VK_FALSE;
      vkGetPhysicalDeviceSurfaceSupportKHR(pd, q, surface, &present);
      if (!(families[q].queueFlags & VK_QUEUE_GRAPHICS_BIT) || !present) continue;
      if (device_rank(props.deviceType) < best_rank) {
        best_rank = device_rank(props.deviceType);
        physical_device = pd;
        queue_family = q;
        properties = props;
      }
      break;
    }
  }
  if (!physical_device)
    throw std::runtime_error("no Vulkan device can draw to this window: " + seen +
                             " lack a graphics queue that presents to it; play with --headless");
  device_name = properties.deviceName;

  // The frame hand-off's extensions: all of them or none (a Vulkan 1.1
  // device is needed to ask for its features and its UUID).
  InteropSupport interop_support;
  interop_unavailable = "not requested";
  if (options.cuda_interop) {
    if (properties.apiVersion < VK_API_VERSION_1_1) {
      interop_unavailable = device_name + " is a Vulkan 1.0 device";
    } else {
      VkPhysicalDeviceIDProperties id{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
      VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
      p2.pNext = &id;
      vkGetPhysicalDeviceProperties2(physical_device, &p2);
      std::copy(std::begin(id.deviceUUID), std::end(id.deviceUUID), device_uuid.begin());
      const InteropSupport supported = query_interop_support(physical_device);
      if (supported.complete()) {
        interop_support = supported;
        interop_unavailable.clear();
      } else {
        interop_unavailable = device_name + " lacks " + supported.missing();
      }
    }
    if (!interop_unavailable.empty())
      std::fprintf(stderr, "worldloop: Vulkan: CUDA frame hand-off extensions left off: %s\n",
                   interop_unavailable.c_str());
  }

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = queue_family;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  std::vector<const char*> device_exts = {VK_KHR_SWAPCHAIN_EXTENSION_NAME};
  for (const char* e : interop_support.device_extensions()) device_exts.push_back(e);
  VkPhysicalDeviceTimelineSemaphoreFeatures timeline{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES};
  timeline.timelineSemaphore = VK_TRUE;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  if (interop_support.timeline_semaphore) dci.pNext = &timeline;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<uint32_t>(device_exts.size());
  dci.ppEnabledExtensionNames = device_exts.data();
  WL_VK_CHECK(vkCreateDevice(physical_device, &dci, nullptr, &device));
  vkGetDeviceQueue(device, queue_family, 0, &queue);
  interop = InteropDevice{physical_device, device, queue, queue_family, interop_support};
}

VkContext::~VkContext() {
  if (device) vkDestroyDevice(device, nullptr);
  if (surface) vkDestroySurfaceKHR(instance, surface, nullptr);
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance, messenger_, nullptr);
  }
  if (instance) vkDestroyInstance(instance, nullptr);
}

uint32_t VkContext::memory_type(uint32_t type_bits, VkMemoryPropertyFlags flags) const {
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(physical_device, &mem);
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i)
    if ((type_bits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & flags) == flags) return i;
  throw std::runtime_error("no Vulkan memory type with the required properties");
}

}  // namespace wl::render
