#include "runtime/cuda/cuda_device.h"

#include <cuda_runtime.h>

namespace wl::cuda {

DeviceQuery query_devices() {
  DeviceQuery q;
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    q.reason = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return q;
  }
  q.count = n;
  if (n == 0) {
    q.reason = "no CUDA device present";
    return q;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) q.first_name = prop.name;
  return q;
}

}  // namespace wl::cuda
