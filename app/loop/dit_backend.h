// Where the commands that run the DiT run it: the --backend flag
// (cpu|cuda|auto) and, on CUDA, the device memory check made before any
// weight is uploaded.
#pragma once
#include <string>

#include "cache/kv_store.h"
#include "runtime/model/causal_dit.h"
#include "runtime/model/dit_workspace.h"

namespace wl::app {

// The --backend flag of every command: "cpu", "cuda" (throws with the reason
// when no device is usable) or "auto" (CUDA when usable, else the CPU, with
// one line only when a driver is installed but unusable). choose_backend
// (app/loop/frame_path.h) decides.
Backend parse_backend_flag(const std::string& value);

// The memory plan for a model of `config` at options.precision with KV store
// `kv` and calls up to `largest_call`, checked before anything is allocated:
// against options.max_memory_bytes (--max-memory) and what the device (CUDA,
// where the plan is printed) or the machine (CPU, silently) has free. Throws
// wl::Error advising to lower `cache_hint` or use bf16 when it does not fit.
void check_dit_memory(const DitConfig& config, const DitOptions& options, const cache::KvStoreConfig& kv,
                      const DitCallShape& largest_call, const std::string& cache_hint);

}  // namespace wl::app
