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

// --max-memory: "8G", "512M", "1.5G", "64K" or a byte count; errors name the
// flag and the value. Returns bytes (> 0).
int64_t parse_memory_size(const std::string& text, const std::string& flag = "--max-memory");

// The host memory the kernel says is available (/proc/meminfo MemAvailable),
// or -1 when it cannot be read.
int64_t host_available_bytes();

// The rows only a CUDA run allocates (cuBLASLt workspace, CUDA libraries).
bool is_cuda_only_row(const MemoryPlanRow& row);

// Checks `plan` before the allocations it counts are made, on `backend`:
//   - with `max_memory` > 0 (--max-memory), the whole plan must fit it;
//   - the rows not yet allocated must fit what is free: the host's
//     MemAvailable on the CPU, the device's free memory on CUDA.
// `already_resident` names rows that were allocated before this check (the
// weights, when a session is rebuilt over a loaded model): they count
// against --max-memory but not against what is free now. On the CPU the
// CUDA-only rows (cuBLASLt workspace, CUDA libraries) are left out.
// Throws wl::Error with the numbers and `cache_hint` otherwise; prints nothing.
void check_memory_limits(const MemoryPlan& plan, Backend backend, int64_t max_memory, const std::string& cache_hint,
                         const std::vector<std::string>& already_resident = {});

// CUDA: prints the plan and the device's free memory to stderr.
void print_device_memory_plan(const MemoryPlan& plan);
// CUDA: prints the plan and checks it fits the device's free memory.
void check_device_memory(const MemoryPlan& plan, const std::string& cache_hint);

}  // namespace wl
