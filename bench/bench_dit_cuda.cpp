// bench_dit_cuda: the causal DiT on the CUDA backend at Wan 2.1 1.3B scale
// (30 blocks, dim 1536, 12 heads, ffn 8960, text_len 512) at 832x480 (latents
// 16 x 60 x 104, 1560 tokens per frame), chunks of 3 latent frames, a cache of
// 21 frames; prints one JSON object.
//
// What is timed: per chunk, the 4 denoising calls and the clean pass (5
// forward calls of the model; no sampler arithmetic, no decoding), between two
// CUDA events on the model stream. Latents stay on the device. The first
// chunks warm up and fill the cache (the default warm-up of 7 chunks fills all
// 21 frames), so the timed chunks attend to a full cache and evict. Weights
// are random (tests/support/random_checkpoint, bf16 on disk; writing them takes
// a minute of CPU) unless --weights names a checkpoint: speed does not depend
// on their values. Without a usable device: {"skipped": "<reason>"}.
//
//   bench_dit_cuda [--precision bf16|f32] [--chunks N] [--warmup W] [--cuda-graphs on|off]
//                  [--height H --width W] (latent size) [--capacity FRAMES] [--weights W.safetensors]
// (--cuda-graphs on can still be overridden by WORLDLOOP_CUDA_GRAPHS=0; the JSON reports what ran.)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli/args.h"
#include "cache/kv_store.h"
#include "runtime/core/error.h"
#include "runtime/model/causal_dit.h"
#include "runtime/model/memory_plan.h"
#include "runtime/core/ops.h"
#include "tests/support/random_checkpoint.h"
#ifdef WORLDLOOP_HAS_CUDA
#include <cuda_runtime.h>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/cuda_device.h"
#include "runtime/cuda/ops_cuda.h"
#endif

namespace {

void print(const nlohmann::json& j) { std::printf("%s\n", j.dump(2).c_str()); }

#ifdef WORLDLOOP_HAS_CUDA

wl::testref::RandomCheckpointSpec wan_1_3b() {
  wl::testref::RandomCheckpointSpec s;
  s.dim = 1536; s.num_heads = 12; s.num_layers = 30; s.ffn_dim = 8960; s.freq_dim = 256;
  s.text_dim = 4096; s.text_len = 512; s.in_dim = 16; s.out_dim = 16;
  s.dtype = wl::DType::BF16;
  return s;
}

// Floating-point operations (2 per multiply-add) of one forward call of
// `tokens` query tokens attending to `keys` cached tokens: the linears of the
// blocks (self q, k, v, o; cross q, o; the FFN), the patch embedding and the
// head, and attention (q k^T and p v, self and cross). The time and text
// embeddings (per frame / per prompt), norms and elementwise ops are not counted.
double forward_flops(const wl::DitConfig& c, int64_t tokens, int64_t keys) {
  const double T = tokens, D = c.dim;
  const double per_block = 2 * T * D * D * 4            // self q, k, v, o
                           + 2 * T * D * D * 2          // cross q, o (k, v once per prompt)
                           + 2 * T * D * c.ffn_dim * 2  // ffn.0, ffn.2
                           + 4 * T * keys * D           // self attention
                           + 4 * T * c.text_len * D;    // cross attention
  const double patch = 2 * T * D * c.in_dim * c.patch_h * c.patch_w;
  const double head = 2 * T * D * c.out_dim * c.patch_h * c.patch_w;
  return per_block * c.num_layers + patch + head;
}

double mib(double bytes) { return bytes / (1 << 20); }

int64_t device_bytes_in_use() {
  size_t free_b = 0, total_b = 0;
  wl::cuda::memory_info(free_b, total_b);
  return static_cast<int64_t>(total_b - free_b);
}

// The high-water mark of stream-ordered allocations (every ops::empty on CUDA).
unsigned long long pool_peak_bytes(bool reset) {
  cudaMemPool_t pool = nullptr;
  WL_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, 0));
  unsigned long long v = 0;
  if (reset) WL_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &v));
  WL_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &v));
  return v;
}

struct Stats {
  double median, min, max;
};
Stats summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

nlohmann::json run(int argc, char** argv) {
  wl::app::Args args(argc, argv,
                     {"precision", "chunks", "warmup", "cuda-graphs", "height", "width", "capacity", "weights"});
  const int64_t height = args.get_int("height", 60), width = args.get_int("width", 104);
  const int64_t chunk = 3, steps = 4;
  const int64_t capacity = args.get_int("capacity", 21);
  const int64_t warmup = args.get_int("warmup", 7), chunks = args.get_int("chunks", 5);
  if (chunks <= 0 || warmup < 0) throw wl::Error("--chunks must be positive and --warmup not negative");
  const std::string precision_flag = args.get("precision", "bf16");
  wl::DitOptions options;
  options.backend = wl::Backend::CUDA;
  if (precision_flag == "bf16") options.precision = wl::ops::MatmulPrecision::BF16;
  else if (precision_flag == "f32") options.precision = wl::ops::MatmulPrecision::F32;
  else throw wl::Error("--precision must be bf16 or f32, got '" + precision_flag + "'");
  const std::string graphs_flag = args.get("cuda-graphs", "on");
  if (graphs_flag != "on" && graphs_flag != "off") throw wl::Error("--cuda-graphs must be on or off");
  options.cuda_graphs = graphs_flag == "on";

  const bool random_weights = !args.has("weights");
  const std::string weights_path =
      random_weights ? (std::filesystem::temp_directory_path() / "worldloop-bench-cuda-wan1.3b.safetensors").string()
                     : args.get("weights", "");
  if (random_weights) wl::testref::write_random_checkpoint(weights_path, wan_1_3b());
  wl::WeightMap weights = wl::WeightMap::open(weights_path);

  // The planner's numbers, checked against the device before anything is uploaded.
  const wl::DitConfig config = wl::DitConfig::from_weights(weights);
  const wl::cache::KvStoreConfig kv_config =
      wl::dit_cache_config(config, height, width, capacity, 0, wl::Backend::CUDA);
  const wl::MemoryPlan plan = wl::plan_dit_memory(config, options.precision, kv_config, {chunk, height, width});
  wl::check_device_memory(plan, "--capacity");
  const int64_t in_use_before = device_bytes_in_use();
  pool_peak_bytes(true);

  wl::CausalDit model(weights, options);
  wl::cache::KvStore cache(model.cache_config(height, width, capacity, 0), wl::cache::make_policy("full"));
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> ctx(static_cast<size_t>(config.text_len / 2 * config.text_dim));
  for (float& v : ctx) v = normal(rng);
  model.set_prompt(wl::Tensor::from_floats(ctx, {config.text_len / 2, config.text_dim}));
  std::vector<float> xs(static_cast<size_t>(chunk * config.in_dim * height * width));
  for (float& v : xs) v = normal(rng);
  const wl::Tensor x = wl::ops::to_backend(wl::Tensor::from_floats(xs, {chunk, config.in_dim, height, width}),
                                           wl::Backend::CUDA);  // [chunk, C, H, W] on the device

  const int64_t tpf = config.tokens_per_frame(height, width);
  cudaEvent_t begin = nullptr, end = nullptr;
  WL_CUDA_CHECK(cudaEventCreate(&begin));
  WL_CUDA_CHECK(cudaEventCreate(&end));
  std::vector<double> chunk_ms;
  double flops = 0;
  for (int64_t c = 0; c < warmup + chunks; ++c) {
    const int64_t start = c * chunk;
    WL_CUDA_CHECK(cudaEventRecord(begin, wl::cuda::stream()));
    for (int64_t step = 0; step <= steps; ++step) {
      // Steps at 1000, 750, 500, 250, then the clean pass at 0 that updates the cache.
      const float t = step == steps ? 0.0f : 1000.0f * static_cast<float>(steps - step) / steps;
      model.forward(x, std::vector<float>(chunk, t), start, cache, step == steps);
    }
    WL_CUDA_CHECK(cudaEventRecord(end, wl::cuda::stream()));
    WL_CUDA_CHECK(cudaEventSynchronize(end));
    float ms = 0;
    WL_CUDA_CHECK(cudaEventElapsedTime(&ms, begin, end));
    if (c < warmup) continue;
    chunk_ms.push_back(ms);
    const int64_t keys = std::min({start + chunk, capacity, kv_config.max_attention_tokens / tpf}) * tpf;
    flops += (steps + 1) * forward_flops(config, chunk * tpf, keys);
  }
  WL_CUDA_CHECK(cudaEventDestroy(begin));
  WL_CUDA_CHECK(cudaEventDestroy(end));
  const double pool_peak = static_cast<double>(pool_peak_bytes(false));
  const double in_use_after = static_cast<double>(device_bytes_in_use() - in_use_before);
  if (random_weights) std::filesystem::remove(weights_path);

  const Stats ms = summarise(chunk_ms);
  const double latent_fps = chunk / (ms.median * 1e-3);
  const wl::CudaGraphRunner::Stats& g = model.graph_stats();
  return {
      {"bench", "dit_cuda"},
      {"device", wl::cuda::query_devices().first_name},
      {"timed", "denoise: 4 steps + clean pass per chunk, model only, CUDA events"},
      {"precision", wl::ops::precision_name(options.precision)},
      {"model", {{"dim", config.dim}, {"blocks", config.num_layers}, {"heads", config.num_heads},
                 {"ffn", config.ffn_dim}, {"text_len", config.text_len},
                 {"weights", random_weights ? std::string("random") : weights_path}}},
      {"latent", {{"frames_per_chunk", chunk}, {"channels", config.in_dim}, {"height", height}, {"width", width},
                  {"tokens_per_frame", tpf}, {"cache_frames", capacity}, {"steps", steps}}},
      {"chunks", {{"warmup", warmup}, {"timed", chunks}}},
      {"chunk_ms", {{"median", ms.median}, {"min", ms.min}, {"max", ms.max}}},
      {"latent_frames_per_s", latent_fps},
      {"video_frames_per_s", 4 * latent_fps},
      {"fps_note", "video frames = 4 x latent frames (Wan's VAE compresses time 4x; steady state, the video's "
                   "first latent frame decodes to 1 frame); decoding is not timed"},
      {"tflops", flops / chunk_ms.size() / (ms.median * 1e-3) * 1e-12},
      {"flops_counted", "linears of the blocks, patch embedding and head; self and cross attention (QK^T and PV); "
                        "mean FLOPs of a timed chunk over the median chunk time"},
      {"cuda_graphs", {{"requested", options.cuda_graphs}, {"captured", g.captured}, {"replayed", g.replayed},
                       {"eager", g.eager}, {"disabled_reason", g.disabled_reason}}},
      {"memory_mib", {{"plan_total", mib(static_cast<double>(plan.total_bytes()))},
                      {"pool_peak", mib(pool_peak)},
                      {"in_use_after_run", mib(in_use_after)},
                      {"note", "pool_peak: high-water mark of stream-ordered device allocations from model load to "
                               "the end; in_use_after_run: cudaMemGetInfo used bytes after the run minus before "
                               "the model was loaded"}}},
  };
}

#endif  // WORLDLOOP_HAS_CUDA

}  // namespace

int main(int argc, char** argv) {
  try {
    if (!wl::ops::backend_available(wl::Backend::CUDA)) {
      print({{"skipped", wl::ops::backend_unavailable_reason(wl::Backend::CUDA)}});
      return 0;
    }
#ifdef WORLDLOOP_HAS_CUDA
    print(run(argc, argv));
#endif
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dit_cuda: %s\n", e.what());
    return 1;
  }
}
