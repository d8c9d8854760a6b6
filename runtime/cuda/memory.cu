// Device query, the model stream, device allocation and copies (host copies
// through a pinned staging buffer).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_device.h"
#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {

namespace {
const DeviceQuery& device_query() {
  static std::once_flag once;
  static DeviceQuery q;
  std::call_once(once, [] { q = query_devices(); });
  return q;
}
}  // namespace

bool device_available(std::string* reason, bool* worth_a_warning) {
  const DeviceQuery& q = device_query();
  if (reason) *reason = q.reason;
  if (worth_a_warning) *worth_a_warning = q.warn;
  return q.count > 0;
}

CUstream_st* stream() {
  static std::once_flag once;
  static cudaStream_t s = nullptr;
  std::call_once(once, [] { WL_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); });
  return s;
}

Tensor empty(const Shape& shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  void* p = nullptr;
  if (bytes) {
    const cudaError_t err = cudaMallocAsync(&p, bytes, stream());
    if (err != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      throw Error("CUDA: out of device memory allocating " + std::to_string(bytes >> 20) + " MiB for " +
                  shape_str(shape) + " " + dtype_name(dtype) + " (" + std::to_string(free_b >> 20) + " of " +
                  std::to_string(total_b >> 20) + " MiB free): " + cudaGetErrorString(err));
    }
  }
  // Freed on the stream, after the ops queued on it that may still read it.
  std::shared_ptr<void> owner(p, [](void* q) {
    if (q) cudaFreeAsync(q, stream());
  });
  return Tensor::view(p, shape, dtype, owner, Backend::CUDA);
}

Tensor zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t.nbytes()) WL_CUDA_CHECK(cudaMemsetAsync(t.raw(), 0, t.nbytes(), stream()));
  return t;
}

namespace {

// Host <-> device copies go through one pinned (page-locked) staging buffer, so
// the transfer is a real DMA on the stream. An upload returns once its bytes
// are in the staging buffer; the next copy waits for the DMA before reusing it.
// Copies larger than kMaxStaged go directly from pageable memory.
constexpr size_t kMaxStaged = size_t{64} << 20;

struct PinnedStaging {
  std::mutex mutex;
  void* host = nullptr;
  size_t bytes = 0;
  cudaEvent_t drained = nullptr;  // the last DMA out of / into `host` is done

  // Returns a buffer of at least n bytes that no DMA is using.
  void* acquire(size_t n) {
    if (!drained) WL_CUDA_CHECK(cudaEventCreateWithFlags(&drained, cudaEventDisableTiming));
    WL_CUDA_CHECK(cudaEventSynchronize(drained));
    if (n > bytes) {
      if (host) WL_CUDA_CHECK(cudaFreeHost(host));
      host = nullptr;
      bytes = 0;
      const size_t want = std::max(n, size_t{1} << 20);
      WL_CUDA_CHECK(cudaMallocHost(&host, want));
      bytes = want;
    }
    return host;
  }
};

PinnedStaging& staging() {
  static PinnedStaging* s = new PinnedStaging;  // lives as long as the process (the driver frees it)
  return *s;
}

}  // namespace

void copy(const Tensor& src, Tensor& dst) {
  const size_t n = src.nbytes();
  if (!n) return;
  cudaStream_t s = stream();
  if (src.backend() == Backend::CUDA && dst.backend() == Backend::CUDA) {
    WL_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), n, cudaMemcpyDeviceToDevice, s));
    return;
  }
  if (n > kMaxStaged) {
    WL_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), n, cudaMemcpyDefault, s));
    WL_CUDA_CHECK(cudaStreamSynchronize(s));
    return;
  }
  PinnedStaging& st = staging();
  std::lock_guard<std::mutex> lock(st.mutex);
  void* pinned = st.acquire(n);
  if (dst.backend() == Backend::CUDA) {  // upload
    std::memcpy(pinned, src.raw(), n);
    WL_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), pinned, n, cudaMemcpyHostToDevice, s));
    WL_CUDA_CHECK(cudaEventRecord(st.drained, s));
  } else {  // download: the host reads it right after
    WL_CUDA_CHECK(cudaMemcpyAsync(pinned, src.raw(), n, cudaMemcpyDeviceToHost, s));
    WL_CUDA_CHECK(cudaEventRecord(st.drained, s));
    WL_CUDA_CHECK(cudaEventSynchronize(st.drained));
    std::memcpy(dst.raw(), pinned, n);
  }
}

void synchronize() { WL_CUDA_CHECK(cudaStreamSynchronize(stream())); }

void memory_info(size_t& free_bytes, size_t& total_bytes) { WL_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes)); }

}  // namespace wl::cuda
