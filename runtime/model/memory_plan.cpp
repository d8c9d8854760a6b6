#include "runtime/model/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "runtime/core/error.h"
#ifdef WORLDLOOP_HAS_CUDA
#include "runtime/cuda/cuda_device.h"
#include "runtime/cuda/ops_cuda.h"
#endif

namespace wl {
namespace {

constexpr int64_t kF32 = 4, kBF16 = 2;

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// (out, in) of every linear layer of a checkpoint.
std::vector<std::pair<int64_t, int64_t>> linear_shapes(const DitConfig& c) {
  const int64_t D = c.dim, patch = int64_t{c.patch_t} * c.patch_h * c.patch_w;
  std::vector<std::pair<int64_t, int64_t>> out = {
      {D, c.in_dim * patch},      // patch_embedding
      {D, c.freq_dim}, {D, D},    // time_embedding.0, .2
      {6 * D, D},                 // time_projection.1
      {D, c.text_dim}, {D, D},    // text_embedding.0, .2
      {patch * c.out_dim, D},     // head.head
  };
  if (c.action_dim > 0) {
    out.push_back({D, c.action_dim});  // action_embedding.0
    out.push_back({D, D});             // action_embedding.2
  }
  for (int64_t b = 0; b < c.num_layers; ++b) {
    for (int i = 0; i < 8; ++i) out.push_back({D, D});  // self q, k, v, o; cross q, k, v, o
    out.push_back({c.ffn_dim, D});                      // ffn.0
    out.push_back({D, c.ffn_dim});                      // ffn.2
  }
  return out;
}

}  // namespace

int64_t dit_matrix_elements(const DitConfig& c) {
  int64_t n = 0;
  for (const auto& [out, in] : linear_shapes(c)) n += out * in;
  return n;
}

int64_t dit_vector_elements(const DitConfig& c) {
  int64_t n = 0;
  for (const auto& [out, in] : linear_shapes(c)) n += out;  // biases
  n += 2 * c.dim;                                          // head.modulation
  n += c.num_layers * 12 * c.dim;  // per block: modulation [6, dim], norm_q/norm_k (self, cross), norm3 weight and bias
  return n;
}

int64_t MemoryPlan::total_bytes() const {
  int64_t n = 0;
  for (const MemoryPlanRow& r : rows) n += r.bytes;
  return n;
}

std::string MemoryPlan::table() const {
  size_t width = 5;
  for (const MemoryPlanRow& r : rows) width = std::max(width, r.what.size());
  std::string out = "worldloop: device memory plan (MiB)\n";
  auto line = [&](const std::string& what, int64_t bytes) {
    const std::string m = mib(bytes);
    out += "  " + what + std::string(width - what.size() + 2, ' ') + std::string(m.size() < 10 ? 10 - m.size() : 0, ' ') +
           m + "\n";
  };
  for (const MemoryPlanRow& r : rows) line(r.what, r.bytes);
  line("total", total_bytes());
  return out;
}

MemoryPlan plan_dit_memory(const DitConfig& c, ops::MatmulPrecision precision, const cache::KvStoreConfig& kv,
                           const DitCallShape& call) {
  MemoryPlan plan;
  plan.precision = precision;
  const bool bf16 = precision == ops::MatmulPrecision::BF16;
  const int64_t D = c.dim;
  const int64_t T = call.frames * c.tokens_per_frame(call.height, call.width);
  const int64_t row = kv.heads * kv.head_dim;

  plan.rows.push_back({std::string("weights (") + ops::precision_name(precision) + " matrices, F32 vectors)",
                       dit_matrix_elements(c) * (bf16 ? kBF16 : kF32) + dit_vector_elements(c) * kF32});
  // Per block k and v of the prompt, plus the text embedding's padded input
  // and two hidden states while set_prompt runs.
  plan.rows.push_back({"prompt (cross-attention k/v, text embedding)",
                       (c.num_layers * 2 * c.text_len * D + c.text_len * c.text_dim + 2 * c.text_len * D) * kF32});
  plan.rows.push_back({"KV cache (" + std::to_string(kv.blocks) + " blocks x " + std::to_string(kv.budget_tokens) +
                           " tokens x " + std::to_string(kv.heads) + "x" + std::to_string(kv.head_dim) + " x 3, F32)",
                       kv.blocks * kv.budget_tokens * row * 3 * kF32});
  plan.rows.push_back({"activations (largest call: " + std::to_string(call.frames) + " frames, " + std::to_string(T) +
                           " tokens)",
                       activation_bytes(c, call)});
  // Attention may gather one block's keys and values into contiguous F32
  // buffers and, in bf16, keep bf16 copies of q, k and v.
  const int64_t keys = kv.max_attention_tokens > 0 ? std::min(kv.budget_tokens, kv.max_attention_tokens)
                                                   : kv.budget_tokens;
  plan.rows.push_back({"attention scratch (gathered k/v of " + std::to_string(keys) + " keys)",
                       2 * keys * row * kF32 + (bf16 ? (T + 2 * keys) * row * kBF16 : 0)});
  // cuBLASLt's workspace and, in bf16, the rounded copy of the widest input.
  const int64_t widest = std::max({D, c.ffn_dim, c.text_dim});
  plan.rows.push_back({"matmul scratch (cuBLASLt workspace, bf16 inputs)",
                       kCublasLtWorkspaceBytes + (bf16 ? std::max(T, c.text_len) * widest * kBF16 : 0)});
  plan.rows.push_back({"CUDA libraries and allocator slack (estimate)", kLibraryReserveBytes});
  return plan;
}

void add_text_encoder(MemoryPlan& plan, const Umt5Config& c, ops::MatmulPrecision precision, bool on_device,
                      int64_t embedding_bytes_per_value) {
  const Umt5Bytes b = umt5_memory_bytes(c, precision, embedding_bytes_per_value);
  const std::string what = "text encoder (umT5, " + std::to_string(c.layers) + " layers, dim " + std::to_string(c.dim) + ")";
  if (on_device) {
    plan.rows.push_back({what + " weights (" + ops::precision_name(precision) + " matrices)", b.weights});
    plan.rows.push_back({what + " activations (one prompt of " + std::to_string(c.text_len) + " tokens)", b.activations});
  } else {
    plan.rows.push_back({what + " on the CPU: " + std::to_string((b.total() + (1 << 20) - 1) >> 20) + " MiB of host memory",
                         0});
  }
}

bool is_cuda_only_row(const MemoryPlanRow& row) {
  return row.what.rfind("matmul scratch", 0) == 0 || row.what.rfind("CUDA libraries", 0) == 0;
}

namespace {

std::string advice_for(const MemoryPlan& plan, const std::string& cache_hint) {
  return "lower " + cache_hint + (plan.precision == ops::MatmulPrecision::F32 ? " or use bf16" : "");
}

}  // namespace

void check_plan_fits(const MemoryPlan& plan, int64_t free_bytes, const std::string& device,
                     const std::string& cache_hint) {
  const int64_t need = plan.total_bytes();
  if (need <= free_bytes) return;
  throw Error("the model needs " + mib(need) + " MiB, " + mib(free_bytes) + " MiB free on " + device + ": " +
              advice_for(plan, cache_hint));
}

int64_t parse_memory_size(const std::string& text, const std::string& flag) {
  const std::string range = flag + " must be a size such as 8G, 512M or 1.5G (at least 1M, at most 1024T), got '" +
                            text.substr(0, 40) + "'";
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(text, &used);
  } catch (const std::exception&) {
    throw Error(range);
  }
  std::string unit = text.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (unit.size() == 2 && (unit[1] == 'i' || unit[1] == 'I')) unit.pop_back();  // "GiB": the same binary units
  double scale = 1;
  if (unit.empty()) {
  } else if (unit == "K" || unit == "k") scale = 1024.0;
  else if (unit == "M" || unit == "m") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") scale = 1024.0 * 1024 * 1024 * 1024;
  else throw Error(range);
  const double bytes = x * scale;
  if (!std::isfinite(bytes) || bytes < 1024.0 * 1024 || bytes > 1024.0 * 1024 * 1024 * 1024 * 1024)
    throw Error(range);
  return static_cast<int64_t>(bytes);
}

int64_t host_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return -1;
}

void check_memory_limits(const MemoryPlan& plan, Backend backend, int64_t max_memory, const std::string& cache_hint,
                         const std::vector<std::string>& already_resident) {
  const bool cpu = backend == Backend::CPU;
  int64_t total = 0, to_allocate = 0;
  for (const MemoryPlanRow& r : plan.rows) {
    if (cpu && is_cuda_only_row(r)) continue;
    total += r.bytes;
    bool resident = false;
    for (const std::string& prefix : already_resident) resident = resident || r.what.rfind(prefix, 0) == 0;
    if (!resident) to_allocate += r.bytes;
  }
  const std::string advice = advice_for(plan, cache_hint);
  if (max_memory > 0 && total > max_memory)
    throw Error("the model needs " + mib(total) + " MiB, more than --max-memory " + mib(max_memory) + " MiB: " +
                advice + " (or raise --max-memory)");
  int64_t free_bytes = -1;
  std::string where;
  if (cpu) {
    free_bytes = host_available_bytes();
    where = "this machine (MemAvailable)";
  } else {
#ifdef WORLDLOOP_HAS_CUDA
    size_t f = 0, t = 0;
    cuda::memory_info(f, t);
    free_bytes = static_cast<int64_t>(f);
    where = cuda::query_devices().first_name;
#endif
  }
  if (free_bytes >= 0 && to_allocate > free_bytes)
    throw Error("the model needs " + mib(to_allocate) + " MiB" + (already_resident.empty() ? "" : " more") + ", " +
                mib(free_bytes) + " MiB free on " + where + ": " + advice);
}

void print_device_memory_plan(const MemoryPlan& plan) {
#ifdef WORLDLOOP_HAS_CUDA
  size_t free_bytes = 0, total_bytes = 0;
  cuda::memory_info(free_bytes, total_bytes);
  std::fprintf(stderr, "%s  (%s MiB free of %s MiB on %s)\n", plan.table().c_str(),
               mib(static_cast<int64_t>(free_bytes)).c_str(), mib(static_cast<int64_t>(total_bytes)).c_str(),
               cuda::query_devices().first_name.c_str());
#else
  (void)plan;
  throw Error("device memory plan: CUDA backend not built");
#endif
}

void check_device_memory(const MemoryPlan& plan, const std::string& cache_hint) {
  print_device_memory_plan(plan);
  check_memory_limits(plan, Backend::CUDA, 0, cache_hint);
}

}  // namespace wl
