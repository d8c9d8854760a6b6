// bench_cache: what each cache policy costs per chunk, next to the forward
// call it rides on; prints one JSON object.
//
// Two parts:
//  1. model: the tiny model (random checkpoint, as bench_dit's "tiny": 10
//     blocks, 3 heads of 128, 64 tokens per frame) generates chunks of 3
//     frames (4 denoising calls + the clean pass) into a 12-frame cache with
//     each policy. Per chunk: the policy's own time as the store measures it
//     (CacheStats::policy_ms: make_room + observe over the chunk's 5 calls),
//     next to the forward-call and whole-chunk times. Real queries and keys.
//  2. store: the store alone with synthetic keys (a per-position pattern plus
//     noise, RoPE'd at their frames; queries around a fixed mean) at the tiny
//     shape and at Wan 1.3B's (12 heads of 128, 1560 tokens per frame, 21
//     frames; fewer blocks than 30, since the store holds 3 x 200 MB per
//     block): per chunk, make_room + observe ("policy_ms") and the statistics
//     refresh after the clean pass ("stats_ms", where the policy's scores
//     for the overlay are computed), per block and per chunk scaled to all
//     blocks of the model.
// Only chunks after the cache is full are counted (that is when policies work).
//
//   bench_cache [--chunks N] [--wan-blocks B] [--wan-chunks N] [--policies a,b,...] [--skip-model] [--skip-wan]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <omp.h>

#include "app/cli/args.h"
#include "cache/kv_store.h"
#include "runtime/core/error.h"
#include "runtime/model/causal_dit.h"
#include "runtime/core/ops.h"
#include "tests/support/random_checkpoint.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

json summary(std::vector<double> v) {
  if (v.empty()) return json{{"n", 0}};
  std::sort(v.begin(), v.end());
  return {{"median", v[v.size() / 2]}, {"min", v.front()}, {"max", v.back()}, {"n", v.size()}};
}
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// ---- 1. the tiny model ----------------------------------------------------

wl::testref::RandomCheckpointSpec tiny_spec() {
  wl::testref::RandomCheckpointSpec s;
  s.dim = 384; s.num_heads = 3; s.num_layers = 10; s.ffn_dim = 1536; s.freq_dim = 256;
  s.text_dim = 256; s.text_len = 32; s.in_dim = 8; s.out_dim = 8;
  s.dtype = wl::DType::BF16;
  return s;
}

json bench_model(const std::vector<std::string>& policies, int64_t chunks) {
  const auto spec = tiny_spec();
  const int64_t height = 16, width = 16, chunk = 3, steps = 4, capacity = 12;
  const std::string weights = (std::filesystem::temp_directory_path() / "worldloop-bench-cache-tiny.safetensors").string();
  wl::testref::write_random_checkpoint(weights, spec);
  wl::WeightMap map = wl::WeightMap::open(weights);
  wl::CausalDit model(map);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> ctx(static_cast<size_t>(spec.text_len / 2 * spec.text_dim));
  for (float& v : ctx) v = normal(rng);
  model.set_prompt(wl::Tensor::from_floats(ctx, {spec.text_len / 2, spec.text_dim}));

  json out = json::object();
  out["shape"] = {{"blocks", spec.num_layers}, {"heads", spec.num_heads}, {"head_dim", spec.dim / spec.num_heads},
                  {"tokens_per_frame", (height / 2) * (width / 2)}, {"budget_frames", capacity},
                  {"chunk_frames", chunk}, {"calls_per_chunk", steps + 1}, {"precision", wl::ops::precision_name(model.precision())}};
  json per = json::object();
  for (const std::string& name : policies) {
    wl::cache::KvStore cache(model.cache_config(height, width, capacity, chunk), wl::cache::make_policy(name));
    std::vector<float> xs(static_cast<size_t>(chunk * spec.in_dim * height * width));
    std::vector<double> policy_ms, call_ms, chunk_ms;
    const int64_t full_after = capacity / chunk;  // chunks before the first eviction
    for (int64_t c = 0; c < full_after + chunks; ++c) {
      const auto t_chunk = Clock::now();
      for (int64_t step = 0; step <= steps; ++step) {
        for (float& v : xs) v = normal(rng);
        const float t = step == steps ? 0.0f : 1000.0f * (steps - step) / steps;
        const auto t0 = Clock::now();
        model.forward(wl::Tensor::from_floats(xs, {chunk, spec.in_dim, height, width}), std::vector<float>(chunk, t),
                      c * chunk, cache, step == steps);
        if (c >= full_after && step < steps) call_ms.push_back(ms_since(t0));
      }
      if (c >= full_after) {
        chunk_ms.push_back(ms_since(t_chunk));
        policy_ms.push_back(cache.stats().policy_ms);
      }
    }
    per[name] = {{"policy_ms_per_chunk", summary(policy_ms)},
                 {"forward_call_ms", summary(call_ms)},
                 {"chunk_ms", summary(chunk_ms)},
                 {"policy_share_of_chunk", median(policy_ms) / median(chunk_ms)}};
  }
  std::filesystem::remove(weights);
  out["policies"] = per;
  return out;
}

// ---- 2. the store alone ---------------------------------------------------

struct StoreShape {
  std::string name;
  int64_t blocks, model_blocks, heads, head_dim, rows, cols, budget_frames, chunk;
};

// One chunk's synthetic keys, values and queries for frames [start, start+chunk).
struct ChunkData {
  std::vector<float> k_raw, k_rot, v, q_raw, q_rot;
};

ChunkData make_chunk(const StoreShape& s, int64_t start, const std::vector<float>& pattern,
                     const std::vector<float>& mu, std::mt19937& rng) {
  const int64_t tpf = s.rows * s.cols, row = s.heads * s.head_dim, T = s.chunk * tpf;
  std::normal_distribution<float> normal;
  ChunkData d;
  d.k_raw.resize(static_cast<size_t>(T * row));
  d.v.resize(d.k_raw.size());
  d.q_raw.resize(d.k_raw.size());
  // Keys and values: a per-position pattern (a mostly static scene) plus noise.
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < row; ++i) {
      const float p = pattern[(t % tpf) * row + i];
      d.k_raw[t * row + i] = p + 0.3f * normal(rng);
      d.v[t * row + i] = p + 0.3f * normal(rng);
      d.q_raw[t * row + i] = mu[i] + normal(rng);
    }
  wl::Tensor k = wl::Tensor::from_floats(d.k_raw, {T, s.heads, s.head_dim});
  wl::Tensor q = wl::Tensor::from_floats(d.q_raw, {T, s.heads, s.head_dim});
  wl::ops::rope_3d(k, start, s.chunk, s.rows, s.cols);
  wl::ops::rope_3d(q, start, s.chunk, s.rows, s.cols);
  d.k_rot.assign(k.f32(), k.f32() + k.numel());
  d.q_rot.assign(q.f32(), q.f32() + q.numel());
  return d;
}

json bench_store(const StoreShape& s, const std::vector<std::string>& policies, int64_t chunks, int64_t steps) {
  const int64_t tpf = s.rows * s.cols, row = s.heads * s.head_dim, T = s.chunk * tpf;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> pattern(static_cast<size_t>(tpf * row)), mu(static_cast<size_t>(row));
  for (float& x : pattern) x = normal(rng);
  for (float& x : mu) x = 0.5f * normal(rng);
  const int64_t full_after = s.budget_frames / s.chunk;
  std::vector<ChunkData> data;  // generated once, shared by every policy
  for (int64_t c = 0; c < full_after + chunks; ++c) data.push_back(make_chunk(s, c * s.chunk, pattern, mu, rng));

  wl::cache::KvStoreConfig kc;
  kc.blocks = s.blocks;
  kc.heads = s.heads;
  kc.head_dim = s.head_dim;
  kc.rows = s.rows;
  kc.cols = s.cols;
  kc.budget_tokens = s.budget_frames * tpf;
  kc.sink_frames = s.chunk;
  json per = json::object();
  for (const std::string& name : policies) {
    wl::cache::KvStore store(kc, wl::cache::make_policy(name));
    std::vector<double> policy_ms, stats_ms;
    for (int64_t c = 0; c < full_after + chunks; ++c) {
      const ChunkData& d = data[c];
      double policy = 0, stats = 0;
      for (int64_t step = 0; step <= steps; ++step) {
        const bool update = step == steps;
        auto t0 = Clock::now();
        store.begin_call(c * s.chunk, s.chunk, update);
        policy += ms_since(t0);
        for (int64_t b = 0; b < s.blocks; ++b) {
          store.write_call(b, d.k_raw.data(), d.k_rot.data(), d.v.data(), T);
          t0 = Clock::now();
          store.observe(b, d.q_raw.data(), d.q_rot.data(), T);
          policy += ms_since(t0);
          (void)store.segments(b);
        }
        t0 = Clock::now();
        store.end_call();
        if (update) stats += ms_since(t0);
      }
      if (c >= full_after) {
        policy_ms.push_back(policy);
        stats_ms.push_back(stats);
      }
    }
    std::vector<double> per_block = policy_ms, model_chunk = policy_ms;
    for (double& v : per_block) v /= static_cast<double>(s.blocks);
    for (double& v : model_chunk) v *= static_cast<double>(s.model_blocks) / static_cast<double>(s.blocks);
    per[name] = {{"policy_ms_per_chunk", summary(policy_ms)},
                 {"policy_ms_per_block_chunk", summary(per_block)},
                 {"policy_ms_per_chunk_all_model_blocks", summary(model_chunk)},
                 {"stats_ms_per_chunk", summary(stats_ms)}};
  }
  return {{"shape",
           {{"blocks_run", s.blocks}, {"model_blocks", s.model_blocks}, {"heads", s.heads}, {"head_dim", s.head_dim},
            {"tokens_per_frame", tpf}, {"budget_frames", s.budget_frames}, {"chunk_frames", s.chunk},
            {"calls_per_chunk", steps + 1}}},
          {"policies", per}};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    wl::app::Args args(argc, argv, {"chunks", "wan-blocks", "wan-chunks", "policies"}, {"skip-model", "skip-wan"});
    const int64_t chunks = args.get_int("chunks", 8);
    const int64_t wan_blocks = args.get_int("wan-blocks", 2);
    const int64_t wan_chunks = args.get_int("wan-chunks", 3);
    const std::vector<std::string> policies =
        split(args.get("policies", "full,window,sink,observed,future"));
    for (const std::string& p : policies) (void)wl::cache::make_policy(p);  // unknown names fail early

    json out = {{"bench", "cache"},
                {"timed", "policy_ms: make_room + observe per chunk (4 denoising calls + the clean pass); "
                          "stats_ms: the statistics refresh after the clean pass (policy scores for the overlay); "
                          "only chunks after the cache is full"},
                {"threads", omp_get_max_threads()}};
    if (!args.has("skip-model")) out["model_tiny"] = bench_model(policies, chunks);
    out["store_tiny"] = bench_store({"tiny", 10, 10, 3, 128, 8, 8, 12, 3}, policies, chunks * 4, 4);
    if (!args.has("skip-wan"))
      out["store_wan1.3b"] = bench_store({"wan1.3b", wan_blocks, 30, 12, 128, 30, 52, 21, 3}, policies, wan_chunks, 4);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cache: %s\n", e.what());
    return 1;
  }
}
