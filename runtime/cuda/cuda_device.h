// Which CUDA devices this process can use. Safe to call without a driver or GPU.
#pragma once
#include <string>

#include "runtime/cuda/cuda_unavailable.h"

namespace wl::cuda {

struct DeviceQuery {
  int count = 0;           // usable devices (0 when no driver or GPU)
  std::string reason;      // why count is 0: "no CUDA device: ..." (cuda_unavailable.h)
  bool warn = false;       // a driver is installed but unusable: worth a line under --backend auto
  std::string first_name;  // name of device 0 when count > 0
};

DeviceQuery query_devices();

}  // namespace wl::cuda
