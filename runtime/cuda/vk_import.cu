#include "runtime/cuda/vk_import.h"

#include <memory>
#include <string>

#include <cuda_runtime.h>
#include <unistd.h>

#include "runtime/cuda/cuda_device.h"
#include "runtime/core/error.h"

namespace wl::cuda {

namespace {

void check(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a sticky error so the next call starts clean
  throw Error(std::string(call) + " failed: " + cudaGetErrorString(err));
}

#define WL_CUDA_CHECK(call) check((call), #call)

// Closes `fd` unless release() was called (the import took it over).
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  void release() { fd_ = -1; }

 private:
  int fd_;
};

}  // namespace

void require_device() {
  const DeviceQuery q = query_devices();
  if (q.count == 0) throw Error(q.reason);
}

std::array<uint8_t, 16> current_device_uuid() {
  require_device();
  int device = 0;
  WL_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  WL_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::array<uint8_t, 16> uuid{};
  for (size_t i = 0; i < uuid.size(); ++i) uuid[i] = static_cast<uint8_t>(prop.uuid.bytes[i]);
  return uuid;
}

ImportedBuffer::ImportedBuffer(const ExternalBufferDesc& desc) : size_(desc.size) {
  FdGuard guard(desc.fd);
  require_device();
  if (desc.fd < 0) throw Error("cudaImportExternalMemory: invalid fd " + std::to_string(desc.fd));
  if (desc.size == 0 || desc.offset + desc.size > desc.allocation_size)
    throw Error("cudaImportExternalMemory: frame of " + std::to_string(desc.size) + " bytes at " +
                std::to_string(desc.offset) + " does not fit an allocation of " + std::to_string(desc.allocation_size));

  cudaExternalMemoryHandleDesc hd{};
  hd.type = cudaExternalMemoryHandleTypeOpaqueFd;
  hd.handle.fd = desc.fd;
  hd.size = desc.allocation_size;
  hd.flags = desc.dedicated ? cudaExternalMemoryDedicated : 0;
  cudaExternalMemory_t mem = nullptr;
  WL_CUDA_CHECK(cudaImportExternalMemory(&mem, &hd));
  guard.release();  // CUDA owns the fd now
  mem_ = mem;

  cudaExternalMemoryBufferDesc bd{};
  bd.offset = desc.offset;
  bd.size = desc.size;
  bd.flags = 0;
  const cudaError_t err = cudaExternalMemoryGetMappedBuffer(&ptr_, mem, &bd);
  if (err != cudaSuccess) {
    cudaDestroyExternalMemory(mem);
    mem_ = nullptr;
    check(err, "cudaExternalMemoryGetMappedBuffer");
  }
}

ImportedBuffer::~ImportedBuffer() {
  // Destructors do not throw: failures here only leak until the context goes.
  if (ptr_) cudaFree(ptr_);
  if (mem_) cudaDestroyExternalMemory(mem_);
}

ImportedTimeline::ImportedTimeline(int fd) {
  FdGuard guard(fd);
  require_device();
  if (fd < 0) throw Error("cudaImportExternalSemaphore: invalid fd " + std::to_string(fd));
  cudaExternalSemaphoreHandleDesc hd{};
  hd.type = cudaExternalSemaphoreHandleTypeTimelineSemaphoreFd;
  hd.handle.fd = fd;
  hd.flags = 0;
  cudaExternalSemaphore_t sem = nullptr;
  WL_CUDA_CHECK(cudaImportExternalSemaphore(&sem, &hd));
  guard.release();
  sem_ = sem;
}

ImportedTimeline::~ImportedTimeline() {
  if (sem_) cudaDestroyExternalSemaphore(sem_);
}

void ImportedTimeline::signal(uint64_t value, CUstream_st* stream) const {
  cudaExternalSemaphoreSignalParams p{};
  p.params.fence.value = value;
  p.flags = 0;
  cudaExternalSemaphore_t sem = sem_;
  WL_CUDA_CHECK(cudaSignalExternalSemaphoresAsync(&sem, &p, 1, stream));
}

void ImportedTimeline::wait(uint64_t value, CUstream_st* stream) const {
  cudaExternalSemaphoreWaitParams p{};
  p.params.fence.value = value;
  p.flags = 0;
  cudaExternalSemaphore_t sem = sem_;
  WL_CUDA_CHECK(cudaWaitExternalSemaphoresAsync(&sem, &p, 1, stream));
}

ImportedFrameRing::ImportedFrameRing(const std::vector<ExternalBufferDesc>& slots, int ready_fd, int release_fd) {
  // Own every fd from the start, so a failure part-way closes the rest.
  std::vector<std::unique_ptr<FdGuard>> pending;
  for (const auto& s : slots) pending.push_back(std::make_unique<FdGuard>(s.fd));
  FdGuard ready_guard(ready_fd), release_guard(release_fd);
  std::vector<std::unique_ptr<ImportedBuffer>> imported;
  require_device();
  for (size_t i = 0; i < slots.size(); ++i) {
    pending[i]->release();  // ImportedBuffer takes it over, also when it throws
    imported.push_back(std::make_unique<ImportedBuffer>(slots[i]));
  }
  ready_guard.release();
  auto ready = std::make_unique<ImportedTimeline>(ready_fd);
  release_guard.release();
  auto release = std::make_unique<ImportedTimeline>(release_fd);
  slots_ = std::move(imported);
  ready_ = std::move(ready);
  release_ = std::move(release);
}

void* ImportedFrameRing::slot_ptr(int slot) const {
  if (slot < 0 || slot >= slot_count()) throw Error("imported frame ring: no slot " + std::to_string(slot));
  return slots_[slot]->device_ptr();
}

uint64_t ImportedFrameRing::slot_size(int slot) const {
  if (slot < 0 || slot >= slot_count()) throw Error("imported frame ring: no slot " + std::to_string(slot));
  return slots_[slot]->size();
}

void ImportedFrameRing::begin_write(int slot, uint64_t wait_release, CUstream_st* stream) const {
  if (slot < 0 || slot >= slot_count()) throw Error("imported frame ring: no slot " + std::to_string(slot));
  if (wait_release > 0) release_->wait(wait_release, stream);
}

void ImportedFrameRing::end_write(uint64_t ready_value, CUstream_st* stream) const {
  ready_->signal(ready_value, stream);
}

}  // namespace wl::cuda
