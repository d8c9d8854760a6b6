// Which CUDA devices this process can use. Safe to call without a driver or GPU.
#pragma once
#include <string>

namespace wl::cuda {

struct DeviceQuery {
  int count = 0;           // usable devices (0 when no driver or GPU)
  std::string reason;      // why count is 0, for one log line
  std::string first_name;  // name of device 0 when count > 0
};

DeviceQuery query_devices();

}  // namespace wl::cuda
