#include "render/vk_exportable.h"

#include <string>

#include "render/vk_check.h"
#include "runtime/core/error.h"

namespace wl::render {

namespace {

template <typename Fn>
Fn device_fn(VkDevice device, const char* name) {
  auto fn = reinterpret_cast<Fn>(vkGetDeviceProcAddr(device, name));
  if (!fn) throw Error(std::string("Vulkan device has no ") + name + " (extension not enabled at device creation?)");
  return fn;
}

[[noreturn]] void missing(const char* what, const char* ext) {
  throw Error(std::string("cannot create ") + what + ": the Vulkan device was created without " + ext +
              " (CUDA frame hand-off unavailable)");
}

uint32_t device_local_type(VkPhysicalDevice pd, uint32_t type_bits) {
  VkPhysicalDeviceMemoryProperties mem;
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i)
    if ((type_bits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)) return i;
  for (uint32_t i = 0; i < mem.memoryTypeCount; ++i)  // no device-local type: any allowed one
    if (type_bits & (1u << i)) return i;
  throw Error("no Vulkan memory type can hold an exportable buffer");
}

}  // namespace

ExportableBuffer::ExportableBuffer(const InteropDevice& dev, VkDeviceSize size) : dev_(dev), size_(size) {
  if (!dev.enabled.external_memory_fd) missing("an exportable frame buffer", VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME);
  if (size == 0) throw Error("exportable frame buffer of 0 bytes");
  get_memory_fd_ = device_fn<PFN_vkGetMemoryFdKHR>(dev.device, "vkGetMemoryFdKHR");

  constexpr auto kHandle = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  const VkBufferUsageFlags usage =
      VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;

  // Can this buffer be exported as an opaque fd at all?
  VkPhysicalDeviceExternalBufferInfo query{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_BUFFER_INFO};
  query.usage = usage;
  query.handleType = kHandle;
  VkExternalBufferProperties props{VK_STRUCTURE_TYPE_EXTERNAL_BUFFER_PROPERTIES};
  vkGetPhysicalDeviceExternalBufferProperties(dev.physical_device, &query, &props);
  const auto features = props.externalMemoryProperties.externalMemoryFeatures;
  if (!(features & VK_EXTERNAL_MEMORY_FEATURE_EXPORTABLE_BIT))
    throw Error("this Vulkan device cannot export buffer memory as an opaque fd");

  VkExternalMemoryBufferCreateInfo ext_info{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
  ext_info.handleTypes = kHandle;
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.pNext = &ext_info;
  bci.size = size;
  bci.usage = usage;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  WL_VK_CHECK(vkCreateBuffer(dev.device, &bci, nullptr, &buffer_));

  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev.device, buffer_, &req);
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
  dedicated.buffer = buffer_;
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO};
  export_info.pNext = &dedicated;
  export_info.handleTypes = kHandle;
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.pNext = &export_info;
  mai.allocationSize = req.size;
  try {
    mai.memoryTypeIndex = device_local_type(dev.physical_device, req.memoryTypeBits);
    WL_VK_CHECK(vkAllocateMemory(dev.device, &mai, nullptr, &memory_));
    WL_VK_CHECK(vkBindBufferMemory(dev.device, buffer_, memory_, 0));
  } catch (...) {
    if (memory_) vkFreeMemory(dev.device, memory_, nullptr);
    vkDestroyBuffer(dev.device, buffer_, nullptr);
    throw;
  }
  alloc_size_ = req.size;
}

ExportableBuffer::~ExportableBuffer() {
  vkDestroyBuffer(dev_.device, buffer_, nullptr);
  vkFreeMemory(dev_.device, memory_, nullptr);
}

int ExportableBuffer::export_fd() const {
  VkMemoryGetFdInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_FD_INFO_KHR};
  info.memory = memory_;
  info.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  int fd = -1;
  WL_VK_CHECK(get_memory_fd_(dev_.device, &info, &fd));
  return fd;
}

TimelineSemaphore::TimelineSemaphore(const InteropDevice& dev, bool exportable, uint64_t initial)
    : dev_(dev), exportable_(exportable) {
  if (!dev.enabled.timeline_semaphore) missing("a timeline semaphore", VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME);
  if (exportable && !dev.enabled.external_semaphore_fd)
    missing("an exportable timeline semaphore", VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME);
  signal_ = device_fn<PFN_vkSignalSemaphoreKHR>(dev.device, "vkSignalSemaphoreKHR");
  wait_ = device_fn<PFN_vkWaitSemaphoresKHR>(dev.device, "vkWaitSemaphoresKHR");
  counter_ = device_fn<PFN_vkGetSemaphoreCounterValueKHR>(dev.device, "vkGetSemaphoreCounterValueKHR");
  if (exportable) get_semaphore_fd_ = device_fn<PFN_vkGetSemaphoreFdKHR>(dev.device, "vkGetSemaphoreFdKHR");

  VkSemaphoreTypeCreateInfo type_info{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
  type_info.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  type_info.initialValue = initial;
  VkExportSemaphoreCreateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO};
  export_info.handleTypes = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  if (exportable) {
    VkPhysicalDeviceExternalSemaphoreInfo query{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_SEMAPHORE_INFO};
    query.pNext = &type_info;  // the timeline type matters for what can be exported
    query.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
    VkExternalSemaphoreProperties props{VK_STRUCTURE_TYPE_EXTERNAL_SEMAPHORE_PROPERTIES};
    vkGetPhysicalDeviceExternalSemaphoreProperties(dev.physical_device, &query, &props);
    if (!(props.externalSemaphoreFeatures & VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT))
      throw Error("this Vulkan device cannot export a timeline semaphore as an opaque fd");
    type_info.pNext = &export_info;
  }
  VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  sci.pNext = &type_info;
  WL_VK_CHECK(vkCreateSemaphore(dev.device, &sci, nullptr, &semaphore_));
}

TimelineSemaphore::~TimelineSemaphore() { vkDestroySemaphore(dev_.device, semaphore_, nullptr); }

int TimelineSemaphore::export_fd() const {
  if (!exportable_) throw Error("timeline semaphore was not created exportable");
  VkSemaphoreGetFdInfoKHR info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_FD_INFO_KHR};
  info.semaphore = semaphore_;
  info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  int fd = -1;
  WL_VK_CHECK(get_semaphore_fd_(dev_.device, &info, &fd));
  return fd;
}

void TimelineSemaphore::signal(uint64_t value) const {
  VkSemaphoreSignalInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO};
  info.semaphore = semaphore_;
  info.value = value;
  WL_VK_CHECK(signal_(dev_.device, &info));
}

bool TimelineSemaphore::wait(uint64_t value, uint64_t timeout_ns) const {
  VkSemaphoreWaitInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
  info.semaphoreCount = 1;
  info.pSemaphores = &semaphore_;
  info.pValues = &value;
  const VkResult r = wait_(dev_.device, &info, timeout_ns);
  if (r == VK_TIMEOUT) return false;
  WL_VK_CHECK(r);
  return true;
}

uint64_t TimelineSemaphore::value() const {
  uint64_t v = 0;
  WL_VK_CHECK(counter_(dev_.device, semaphore_, &v));
  return v;
}

}  // namespace wl::render
