#include "app/loop/dit_backend.h"

#include <cstdio>

#include "app/loop/frame_path.h"

#include "runtime/core/error.h"
#include "runtime/model/memory_plan.h"
#include "runtime/core/ops.h"

namespace wl::app {

Backend parse_backend_flag(const std::string& value) {
  if (value == "cpu") return Backend::CPU;  // without asking for a device
  const bool cuda = ops::backend_available(Backend::CUDA);
  const Backend chosen = choose_backend(value, cuda, ops::backend_unavailable_reason(Backend::CUDA));
  // auto on a machine without an NVIDIA driver says nothing; a driver that is
  // there but cannot run this build is worth one line.
  if (value == "auto" && !cuda && ops::backend_unavailable_is_a_problem(Backend::CUDA))
    std::fprintf(stderr, "worldloop: --backend auto: %s; using the CPU backend\n",
                 ops::backend_unavailable_reason(Backend::CUDA).c_str());
  return chosen;
}

void check_dit_memory(const DitConfig& config, const DitOptions& options, const cache::KvStoreConfig& kv,
                      const DitCallShape& largest_call, const std::string& cache_hint) {
  const MemoryPlan plan = plan_dit_memory(config, options.precision, kv, largest_call);
  if (options.backend == Backend::CUDA) print_device_memory_plan(plan);
  check_memory_limits(plan, options.backend, options.max_memory_bytes, cache_hint);
}

}  // namespace wl::app
