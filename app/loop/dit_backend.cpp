#include "app/loop/dit_backend.h"

#include "app/loop/frame_path.h"

#include "runtime/core/error.h"
#include "runtime/model/memory_plan.h"
#include "runtime/core/ops.h"

namespace wl::app {

Backend parse_backend_flag(const std::string& value) {
  if (value == "cpu") return Backend::CPU;  // without asking for a device
  // backend_available logs the reason once when the answer is no.
  return choose_backend(value, ops::backend_available(Backend::CUDA), ops::backend_unavailable_reason(Backend::CUDA));
}

void check_dit_memory(const DitConfig& config, const DitOptions& options, const cache::KvStoreConfig& kv,
                      const DitCallShape& largest_call, const std::string& cache_hint) {
  if (options.backend != Backend::CUDA) return;
  const MemoryPlan plan = plan_dit_memory(config, options.precision, kv, largest_call);
  check_device_memory(plan, cache_hint);
}

}  // namespace wl::app
