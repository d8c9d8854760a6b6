// The CUDA side of the CUDA -> Vulkan frame hand-off (docs/ARCHITECTURE.md, the device path;
// the Vulkan side and the call order are in render/cuda_vk_interop.h). Built
// only with WORLDLOOP_CUDA (guard includes with WORLDLOOP_HAS_CUDA). Plain
// types only, so no CUDA or Vulkan header is needed to include it.
//
// fds: every import takes over the fd it is given, also when it throws (CUDA
// owns it after a successful import; on failure it is closed here).
// Errors: wl::Error naming the CUDA call and cudaGetErrorString; without a
// usable device, wl::Error("no CUDA device: <reason>") before any import.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

struct CUstream_st;             // cudaStream_t is CUstream_st*
struct CUexternalMemory_st;     // cudaExternalMemory_t
struct CUexternalSemaphore_st;  // cudaExternalSemaphore_t

namespace wl::cuda {

// Throws wl::Error("no CUDA device: <reason>") when query_devices() finds none.
void require_device();

// The UUID of the device the ops run on (the current one), to find the same
// GPU among the Vulkan devices (VkPhysicalDeviceIDProperties::deviceUUID).
std::array<uint8_t, 16> current_device_uuid();

struct ExternalBufferDesc {
  int fd = -1;                   // OPAQUE_FD of the VkDeviceMemory
  uint64_t allocation_size = 0;  // of the whole VkDeviceMemory
  uint64_t offset = 0;           // of the frame within it
  uint64_t size = 0;             // of the frame
  bool dedicated = true;         // the Vulkan memory is a dedicated allocation
};

// cudaImportExternalMemory (cudaExternalMemoryHandleTypeOpaqueFd) and
// cudaExternalMemoryGetMappedBuffer: a device pointer the decoder writes into.
class ImportedBuffer {
 public:
  explicit ImportedBuffer(const ExternalBufferDesc& desc);
  ~ImportedBuffer();  // cudaFree of the mapping, cudaDestroyExternalMemory
  ImportedBuffer(const ImportedBuffer&) = delete;
  ImportedBuffer& operator=(const ImportedBuffer&) = delete;

  void* device_ptr() const { return ptr_; }
  uint64_t size() const { return size_; }

 private:
  CUexternalMemory_st* mem_ = nullptr;
  void* ptr_ = nullptr;
  uint64_t size_ = 0;
};

// cudaImportExternalSemaphore (cudaExternalSemaphoreHandleTypeTimelineSemaphoreFd).
class ImportedTimeline {
 public:
  explicit ImportedTimeline(int fd);
  ~ImportedTimeline();  // cudaDestroyExternalSemaphore
  ImportedTimeline(const ImportedTimeline&) = delete;
  ImportedTimeline& operator=(const ImportedTimeline&) = delete;

  // cudaSignalExternalSemaphoresAsync: the timeline reaches `value` once the
  // work queued on `stream` before it is done.
  void signal(uint64_t value, CUstream_st* stream) const;
  // cudaWaitExternalSemaphoresAsync: later work on `stream` waits for `value`.
  void wait(uint64_t value, CUstream_st* stream) const;

 private:
  CUexternalSemaphore_st* sem_ = nullptr;
};

// The whole ring as the decoder uses it: per frame, begin_write(slot, the
// presenter's released value, stream), the decoder's kernels write
// slot_ptr(slot) on `stream`, then end_write(ready value, stream).
class ImportedFrameRing {
 public:
  // Takes every fd (see above). ready_fd: the timeline CUDA signals;
  // release_fd: the timeline the presenter signals.
  ImportedFrameRing(const std::vector<ExternalBufferDesc>& slots, int ready_fd, int release_fd);
  ImportedFrameRing(const ImportedFrameRing&) = delete;
  ImportedFrameRing& operator=(const ImportedFrameRing&) = delete;

  int slot_count() const { return static_cast<int>(slots_.size()); }
  void* slot_ptr(int slot) const;
  uint64_t slot_size(int slot) const;
  void begin_write(int slot, uint64_t wait_release, CUstream_st* stream) const;
  void end_write(uint64_t ready_value, CUstream_st* stream) const;

 private:
  std::vector<std::unique_ptr<ImportedBuffer>> slots_;
  std::unique_ptr<ImportedTimeline> ready_, release_;
};

}  // namespace wl::cuda
