// The device memory a causal DiT needs, counted from its configuration
// before any weight is loaded: weights at the chosen precision, the prompt's
// cross-attention keys and values, the KV cache budget, the activations of the
// largest forward call and the libraries' scratch. check_device_memory()
// prints the plan as one table on stderr and refuses a plan that does not fit
// the device's free memory with one clear error.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cache/kv_store.h"
#include "runtime/model/dit_config.h"
#include "runtime/model/dit_workspace.h"
#include "runtime/model/umt5.h"
#include "runtime/core/ops.h"

namespace wl {

struct MemoryPlanRow {
  std::string what;
  int64_t bytes = 0;
};

struct MemoryPlan {
  std::vector<MemoryPlanRow> rows;
  ops::MatmulPrecision precision = ops::MatmulPrecision::F32;

  int64_t total_bytes() const;
  // "what  MiB" lines and the total, for stderr.
  std::string table() const;
};

// Fixed allowances the plan assumes (estimates, not measurements).
inline constexpr int64_t kCublasLtWorkspaceBytes = int64_t{32} << 20;  // one cuBLASLt workspace
inline constexpr int64_t kLibraryReserveBytes = int64_t{512} << 20;    // cuBLAS/cuDNN kernels, allocator slack

// Bytes of the linear-layer matrices and of the F32 vectors (biases, norms,
// modulation) of a checkpoint of configuration `c`.
int64_t dit_matrix_elements(const DitConfig& c);
int64_t dit_vector_elements(const DitConfig& c);

// The plan for a model of configuration `c` at `precision` whose KV store is
// `kv` and whose largest forward call is `largest_call`.
MemoryPlan plan_dit_memory(const DitConfig& c, ops::MatmulPrecision precision, const cache::KvStoreConfig& kv,
                           const DitCallShape& largest_call);

// Adds the umT5 text encoder (umt5_memory_bytes: matrices at `precision`,
// the embedding as stored, one prompt's activations). On the device: two rows
// of device bytes. On the CPU (--text-device cpu, for 16-24 GB cards): one
// row of 0 device bytes that names the host memory it takes instead.
void add_text_encoder(MemoryPlan& plan, const Umt5Config& c, ops::MatmulPrecision precision, bool on_device,
                      int64_t embedding_bytes_per_value = 2);

// Throws wl::Error "needs X MiB, Y MiB free on <device>: lower <cache_hint>
// (or use bf16)" when the plan exceeds `free_bytes`.
void check_plan_fits(const MemoryPlan& plan, int64_t free_bytes, const std::string& device,
                     const std::string& cache_hint);

// CUDA: prints the plan and the device's free memory to stderr and checks
// the plan fits (check_plan_fits with the current device's free bytes).
void check_device_memory(const MemoryPlan& plan, const std::string& cache_hint);

}  // namespace wl
