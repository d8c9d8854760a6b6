#include "runtime/cuda/cuda_device.h"

#include <cuda_runtime.h>

namespace wl::cuda {

DeviceQuery query_devices() {
  DeviceProbe probe;
  cudaDriverGetVersion(&probe.driver_version);  // 0 without a driver; never fails otherwise
  cudaRuntimeGetVersion(&probe.runtime_version);
  const cudaError_t err = cudaGetDeviceCount(&probe.device_count);
  if (err != cudaSuccess) {
    probe.count_failed = true;
    probe.device_count = 0;
    probe.error_name = cudaGetErrorName(err);
    probe.error_string = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
  }
  DeviceQuery q;
  q.reason = describe_cuda_unavailable(probe);
  q.warn = cuda_problem_worth_a_warning(probe);
  if (!q.reason.empty()) return q;
  q.count = probe.device_count;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) q.first_name = prop.name;
  return q;
}

}  // namespace wl::cuda
