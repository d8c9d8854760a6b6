// bench_dit: times the causal DiT on the CPU and prints one JSON object.
//
// What is timed: (1) one denoising forward call of a chunk (patch embedding to
// unpatchify, KV cache write and attention over the cache included), and
// (2) a whole chunk: every denoising step plus the clean pass at t = 0. The
// cache is carried from chunk to chunk, so later chunks attend to a full cache
// (capacity below). Weights are random with the stated shapes (speed does not
// depend on their values); products in f32 and/or bf16.
//
//   bench_dit [--config tiny|wan1.3b|T] [--precision f32|bf16|both] [--chunks N]
//             [--height H --width W] (latent size) [--capacity FRAMES]
//             [--warmup N] (untimed chunks first, default 1)
//             [--weights-out PATH] (keep the random checkpoint there: bench/peer
//             runs PyTorch on the same weights)
//
// Configuration T is bench/peer's: dim 256, 8 blocks, 4 heads, ffn 1024, 16
// latent channels at 16x16, frame-wise chunks, 4 steps plus the clean pass, a
// sliding 12-frame cache.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <omp.h>

#include "app/cli/args.h"
#include "runtime/core/error.h"
#include "runtime/model/causal_dit.h"
#include "tests/support/random_checkpoint.h"

namespace {

using Clock = std::chrono::steady_clock;
using wl::testref::RandomCheckpointSpec;

struct BenchConfig {
  std::string name;
  RandomCheckpointSpec spec;
  int64_t height, width, chunk, steps, capacity;
  std::string policy = "full";
};

BenchConfig make_config(const std::string& name) {
  BenchConfig b;
  b.name = name;
  RandomCheckpointSpec& s = b.spec;
  if (name == "wan1.3b") {
    // Wan 2.1 1.3B, one chunk of 3 latent frames at 24x40 latents (192x320 pixels).
    s.dim = 1536; s.num_heads = 12; s.num_layers = 30; s.ffn_dim = 8960; s.freq_dim = 256;
    s.text_dim = 4096; s.text_len = 512; s.in_dim = 16; s.out_dim = 16;
    b.height = 24; b.width = 40; b.chunk = 3; b.steps = 4; b.capacity = 21;
  } else if (name == "tiny") {
    // A world-sized model: 64 tokens per frame.
    s.dim = 384; s.num_heads = 3; s.num_layers = 10; s.ffn_dim = 1536; s.freq_dim = 256;
    s.text_dim = 256; s.text_len = 32; s.in_dim = 8; s.out_dim = 8;
    b.height = 16; b.width = 16; b.chunk = 3; b.steps = 4; b.capacity = 21;
  } else if (name == "T") {
    s.dim = 256; s.num_heads = 4; s.num_layers = 8; s.ffn_dim = 1024; s.freq_dim = 256;
    s.text_dim = 256; s.text_len = 16; s.in_dim = 16; s.out_dim = 16;
    b.height = 16; b.width = 16; b.chunk = 1; b.steps = 4; b.capacity = 12; b.policy = "window";
    s.dtype = wl::DType::F32;  // read as it is by tools/train/st.py on the PyTorch side
    return b;
  } else {
    throw wl::Error("--config must be tiny, wan1.3b or T, got '" + name + "'");
  }
  s.dtype = wl::DType::BF16;
  return b;
}

// Multiply-adds x 2 of one forward call with `keys` attended tokens per query.
double forward_flops(const RandomCheckpointSpec& s, int64_t tokens, int64_t keys) {
  const double T = tokens, D = s.dim;
  double per_block = 2 * T * D * D * 4            // self q, k, v, o
                     + 2 * T * D * D * 2          // cross q, o
                     + 2 * T * D * s.ffn_dim * 2  // ffn
                     + 4 * T * keys * D           // self attention: scores and weighted sum
                     + 4 * T * s.text_len * D;    // cross attention
  const double patch = 2 * T * D * s.in_dim * s.patch_h * s.patch_w;
  const double head = 2 * T * D * s.out_dim * s.patch_h * s.patch_w;
  return per_block * s.num_layers + patch + head;
}

struct Stats {
  double median, min, max;
};
Stats summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

nlohmann::json run(const BenchConfig& b, wl::ops::MatmulPrecision precision, const std::string& weights,
                   int64_t chunks, int64_t warmup) {
  wl::WeightMap map = wl::WeightMap::open(weights);
  wl::CausalDit model(map, wl::DitOptions{precision});
  wl::cache::KvStore cache(model.cache_config(b.height, b.width, b.capacity, 0), wl::cache::make_policy(b.policy));
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> ctx(static_cast<size_t>(b.spec.text_len / 2 * b.spec.text_dim));
  for (float& v : ctx) v = normal(rng);
  model.set_prompt(wl::Tensor::from_floats(ctx, {b.spec.text_len / 2, b.spec.text_dim}));

  const int64_t tpf = model.config().tokens_per_frame(b.height, b.width);
  std::vector<float> xs(static_cast<size_t>(b.chunk * b.spec.in_dim * b.height * b.width));
  std::vector<double> call_ms, chunk_ms;
  double flops_calls = 0, flops_chunks = 0;
  for (int64_t c = -warmup; c < chunks; ++c) {  // chunks below 0 warm up
    const int64_t start = (c + warmup) * b.chunk;
    const int64_t keys = std::min(start + b.chunk, b.capacity) * tpf;
    const auto chunk_begin = Clock::now();
    for (int64_t step = 0; step <= b.steps; ++step) {
      for (float& v : xs) v = normal(rng);
      const float t = step == b.steps ? 0.0f : 1000.0f * (b.steps - step) / b.steps;
      const auto t0 = Clock::now();
      model.forward(wl::Tensor::from_floats(xs, {b.chunk, b.spec.in_dim, b.height, b.width}),
                    std::vector<float>(b.chunk, t), start, cache);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (c >= 0 && step < b.steps) {
        call_ms.push_back(ms);
        flops_calls += forward_flops(b.spec, b.chunk * tpf, keys);
      }
      if (c >= 0) flops_chunks += forward_flops(b.spec, b.chunk * tpf, keys);
    }
    if (c >= 0) chunk_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - chunk_begin).count());
  }
  const Stats call = summarise(call_ms), chunk = summarise(chunk_ms);
  // Achieved rate: the mean work of a call (or chunk) over the median time.
  const double flops_call = flops_calls / call_ms.size(), flops_chunk = flops_chunks / chunk_ms.size();
  return {
      {"precision", wl::ops::precision_name(precision)},
      {"forward_call_ms", {{"median", call.median}, {"min", call.min}, {"max", call.max}, {"n", call_ms.size()}}},
      {"chunk_ms", {{"median", chunk.median}, {"min", chunk.min}, {"max", chunk.max}, {"n", chunk_ms.size()}}},
      {"forward_gflop", flops_call * 1e-9},
      {"forward_gflops", flops_call / (call.median * 1e-3) * 1e-9},
      {"chunk_gflops", flops_chunk / (chunk.median * 1e-3) * 1e-9},
      {"latent_frames_per_s", b.chunk / (chunk.median * 1e-3)},
      {"ms_per_frame", {{"median", chunk.median / b.chunk}, {"min", chunk.min / b.chunk},
                        {"max", chunk.max / b.chunk}}},
  };
}

}  // namespace

int main(int argc, char** argv) {
  try {
    wl::app::Args args(argc, argv, {"config", "precision", "chunks", "height", "width", "capacity", "weights-out", "warmup"});
    BenchConfig b = make_config(args.get("config", "tiny"));
    b.height = args.get_int("height", b.height);
    b.width = args.get_int("width", b.width);
    b.capacity = args.get_int("capacity", b.capacity);
    const int64_t chunks = args.get_int("chunks", b.name == "tiny" ? 12 : 2);
    const int64_t warmup = args.get_int("warmup", 1);
    if (chunks < 1 || warmup < 0) throw wl::Error("--chunks must be >= 1 and --warmup >= 0");
    const std::string which = args.get("precision", "both");
    std::vector<wl::ops::MatmulPrecision> precisions;
    if (which == "f32" || which == "both") precisions.push_back(wl::ops::MatmulPrecision::F32);
    if (which == "bf16" || which == "both") precisions.push_back(wl::ops::MatmulPrecision::BF16);
    if (which == "auto") precisions.push_back(wl::ops::best_matmul_precision());
    if (precisions.empty()) throw wl::Error("--precision must be f32, bf16, both or auto");

    const std::string keep = args.get("weights-out", "");
    const std::string weights =
        !keep.empty() ? keep
                      : (std::filesystem::temp_directory_path() / ("worldloop-bench-" + b.name + ".safetensors")).string();
    wl::testref::write_random_checkpoint(weights, b.spec);

    nlohmann::json out = {
        {"bench", "dit"},
        {"config", b.name},
        {"timed", "forward call: one denoising call of a chunk; chunk: all steps plus the clean pass; "
                  "cache carried across chunks, first chunk is warm-up"},
        {"model", {{"dim", b.spec.dim}, {"blocks", b.spec.num_layers}, {"heads", b.spec.num_heads},
                   {"ffn", b.spec.ffn_dim}, {"text_len", b.spec.text_len}}},
        {"latent", {{"frames_per_chunk", b.chunk}, {"height", b.height}, {"width", b.width},
                    {"tokens_per_frame", (b.height / 2) * (b.width / 2)}, {"cache_frames", b.capacity}}},
        {"steps", b.steps},
        {"warmup_chunks", warmup},
        {"threads", omp_get_max_threads()},
        {"isa", wl::ops::cpu_info().onednn_isa},
        {"kernels", wl::ops::cpu_info().kernels},
        {"bf16", wl::ops::cpu_info().native_bf16 ? "native" : "emulated in f32"},
        {"results", nlohmann::json::array()},
    };
    for (auto p : precisions) out["results"].push_back(run(b, p, weights, chunks, warmup));
    if (keep.empty()) std::filesystem::remove(weights);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dit: %s\n", e.what());
    return 1;
  }
}
