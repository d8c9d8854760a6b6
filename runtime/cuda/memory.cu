// Device query, the model stream, device allocation and copies.
#include <cuda_runtime.h>

#include <cstdio>
#include <mutex>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_device.h"
#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {

bool device_available(std::string* reason) {
  static std::once_flag once;
  static DeviceQuery q;
  std::call_once(once, [] {
    q = query_devices();
    if (q.count == 0) {
      if (q.reason.rfind("no CUDA device", 0) != 0) q.reason = "no CUDA device: " + q.reason;
      std::fprintf(stderr, "worldloop: %s; using the CPU backend\n", q.reason.c_str());
    }
  });
  if (reason) *reason = q.count > 0 ? std::string() : q.reason;
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

void copy(const Tensor& src, Tensor& dst) {
  if (!src.nbytes()) return;
  WL_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDefault, stream()));
  if (dst.backend() == Backend::CPU || src.backend() == Backend::CPU) WL_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void synchronize() { WL_CUDA_CHECK(cudaStreamSynchronize(stream())); }

void memory_info(size_t& free_bytes, size_t& total_bytes) { WL_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes)); }

}  // namespace wl::cuda
