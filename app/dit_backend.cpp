#include "app/dit_backend.h"

#include <cstdio>

#include "runtime/error.h"
#include "runtime/model/memory_plan.h"
#include "runtime/ops.h"

namespace wl::app {

Backend parse_backend_flag(const std::string& value) {
  if (value == "cpu") return Backend::CPU;
  if (value == "cuda") {
    if (!ops::backend_available(Backend::CUDA))
      throw Error("--backend cuda: " + ops::backend_unavailable_reason(Backend::CUDA));
    return Backend::CUDA;
  }
  if (value == "auto") {
    if (ops::backend_available(Backend::CUDA)) return Backend::CUDA;
#ifndef WORLDLOOP_HAS_CUDA
    // A build with the CUDA backend logs its own line on the first "no" (runtime/cuda/memory.cu).
    std::fprintf(stderr, "worldloop: %s; using the CPU backend\n",
                 ops::backend_unavailable_reason(Backend::CUDA).c_str());
#endif
    return Backend::CPU;
  }
  throw Error("--backend must be cpu, cuda or auto, got '" + value + "'");
}

void check_dit_memory(const DitConfig& config, const DitOptions& options, const cache::KvStoreConfig& kv,
                      const DitCallShape& largest_call, const std::string& cache_hint) {
  if (options.backend != Backend::CUDA) return;
  const MemoryPlan plan = plan_dit_memory(config, options.precision, kv, largest_call);
  check_device_memory(plan, cache_hint);
}

}  // namespace wl::app
