// Why the CUDA backend cannot run, in one line a user can act on. Pure
// string logic with no CUDA headers, so the CPU suite tests every case
// (HardeningDevices.*, tests/test_hardening_inputs.cpp) on machines that have no driver.
#pragma once
#include <string>

namespace wl::cuda {

// What the runtime reported when it looked for devices.
struct DeviceProbe {
  int driver_version = 0;   // cudaDriverGetVersion: 0 when no driver is installed
  int runtime_version = 0;  // cudaRuntimeGetVersion, this build's runtime
  int device_count = 0;     // cudaGetDeviceCount's answer when it succeeded
  bool count_failed = false;
  std::string error_name;    // cudaGetErrorName of the failing call, if any
  std::string error_string;  // cudaGetErrorString of it
};

// "12.4" from CUDA's 12040.
inline std::string cuda_version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

// Empty when a device is usable; otherwise "no CUDA device: <why>".
inline std::string describe_cuda_unavailable(const DeviceProbe& p) {
  const std::string head = "no CUDA device: ";
  if (!p.count_failed && p.device_count > 0) return {};
  if (p.driver_version == 0)
    return head + "no NVIDIA driver is installed (libcuda.so.1 was not found)";
  if (p.count_failed && p.error_name == "cudaErrorInsufficientDriver")
    return head + "the NVIDIA driver supports CUDA " + cuda_version_text(p.driver_version) + " but this build needs CUDA " +
           cuda_version_text(p.runtime_version) + " (update the driver)";
  if (p.count_failed && p.error_name != "cudaErrorNoDevice")
    return head + "the NVIDIA driver (CUDA " + cuda_version_text(p.driver_version) + ") failed: " + p.error_string + " (" +
           p.error_name + ")";
  return head + "the NVIDIA driver (CUDA " + cuda_version_text(p.driver_version) + ") sees no GPU";
}

// A driver that is installed but not working is worth a line even when the
// user did not ask for CUDA (--backend auto); a machine without one is not.
inline bool cuda_problem_worth_a_warning(const DeviceProbe& p) {
  return p.driver_version != 0 && !describe_cuda_unavailable(p).empty();
}

}  // namespace wl::cuda
