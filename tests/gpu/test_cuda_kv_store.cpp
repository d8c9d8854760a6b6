// The KV store with its keys and values on the device (KvStoreConfig::backend
// CUDA: tensors on the device, moved and scored by the CUDA ops of
// runtime/cuda/kv_rows.cu) against the same store on the CPU. The same
// random calls go to both (keys, values and queries uploaded for the CUDA
// one) and after every call everything observable must agree: token
// metadata, slots per frame, the statistics, the segments attention reads
// (keys, values and bias downloaded), every used slot's rows and the
// policies' scores. Copies must be exact; merged rows and scores agree to
// float rounding. Per policy, with budgets small enough that eviction and
// merging happen, live budget and policy changes, clear(), chains of direct
// merges, and Rolling Forcing's re-positioned sink.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cache/kv_store.h"
#include "cache/rolling_window_kv.h"
#include "runtime/core/error.h"
#include "tests/gpu/gpu_test.h"

namespace wl::cache {
namespace {

// Floats at a device pointer, on the host.
std::vector<float> download(const float* dev, int64_t n) {
  const Tensor d = Tensor::view(const_cast<float*>(dev), {n}, DType::F32, nullptr, Backend::CUDA);
  return ops::to_backend(d, Backend::CPU).to_floats();
}

KvStoreConfig on(const KvStoreConfig& c, Backend b) {
  KvStoreConfig out = c;
  out.backend = b;
  return out;
}

// 2 blocks, 3 heads of 40 (the lanes of a warp wrap, the time part is 16
// floats), 2x3 tokens per frame.
KvStoreConfig small_config(int64_t budget_frames, int64_t sink_frames, int64_t max_attention_tokens = 0) {
  KvStoreConfig c;
  c.blocks = 2;
  c.heads = 3;
  c.head_dim = 40;
  c.rows = 2;
  c.cols = 3;
  c.budget_tokens = budget_frames * c.tokens_per_frame();
  c.sink_frames = sink_frames;
  c.max_attention_tokens = max_attention_tokens;
  return c;
}

// One call's data, [tokens, heads, head_dim] each, on the host and on the device.
struct CallData {
  std::vector<float> k_raw, k_rot, v, q_raw, q_rot;
  Tensor d_k_raw, d_k_rot, d_v, d_q_raw, d_q_rot;

  void upload() {
    const int64_t n = static_cast<int64_t>(k_raw.size());
    auto up = [n](const std::vector<float>& h) { return ops::to_backend(Tensor::from_floats(h, {n}), Backend::CUDA); };
    d_k_raw = up(k_raw);
    d_k_rot = up(k_rot);
    d_v = up(v);
    d_q_raw = up(q_raw);
    d_q_rot = up(q_rot);
  }
};

// Random keys, values and queries for `frames` frames. Each token repeats,
// with probability one half, the same token of the frame before (of this
// call, or `prev` for the first frame) plus noise of a random small size, so
// the "future" policy finds neighbours worth merging whose costs are spread
// far apart next to float rounding.
CallData random_call(const KvStoreConfig& c, int64_t frames, std::mt19937& rng, const std::vector<float>& prev_k,
                     const std::vector<float>& prev_v) {
  const int64_t tpf = c.tokens_per_frame(), row = c.row_floats(), T = frames * tpf;
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> noise_size(1e-3f, 2e-2f);
  CallData d;
  for (auto* x : {&d.k_raw, &d.v, &d.q_raw}) {
    x->resize(static_cast<size_t>(T * row));
    for (float& e : *x) e = normal(rng);
  }
  for (float& e : d.q_raw) e += 0.3f;  // a mean query away from zero
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t t = 0; t < tpf; ++t) {
      if (rng() % 2 || (f == 0 && prev_k.empty())) continue;
      const float eps = noise_size(rng);
      const int64_t to = (f * tpf + t) * row;
      const float* pk = f == 0 ? &prev_k[t * row] : &d.k_raw[((f - 1) * tpf + t) * row];
      const float* pv = f == 0 ? &prev_v[t * row] : &d.v[((f - 1) * tpf + t) * row];
      for (int64_t e = 0; e < row; ++e) {
        d.k_raw[to + e] = pk[e] + eps * normal(rng);
        d.v[to + e] = pv[e] + eps * normal(rng);
      }
    }
  d.k_rot = d.k_raw;  // positions do not matter to the store
  d.q_rot = d.q_raw;
  d.upload();
  return d;
}

// |got - want| within float rounding of computed (not copied) values.
bool close(float got, float want) { return std::fabs(got - want) <= 1e-6f + 1e-4f * std::fabs(want); }

// Rows of slots [first, first + n) of one kind: the CPU store's and the CUDA
// store's (downloaded). Rows of merged tokens agree to rounding, others exactly.
void expect_rows(const KvStore& cpu, const KvStore& gpu, int64_t b, RowKind kind, int64_t first, int64_t n,
                 const float* cpu_ptr, const float* gpu_ptr) {
  const int64_t row = cpu.config().row_floats();
  const std::vector<float> got = download(gpu_ptr, n * row);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t slot = first + i;
    const bool merged = cpu.meta(b)[slot].log_count > 0;
    for (int64_t e = 0; e < row; ++e) {
      const float want = cpu_ptr[i * row + e], g = got[i * row + e];
      if (merged) {
        ASSERT_NEAR(g, want, 1e-5f * std::max(1.0f, std::fabs(want)))
            << "merged slot " << slot << " kind " << static_cast<int>(kind) << " element " << e;
      } else {
        ASSERT_EQ(g, want) << "slot " << slot << " kind " << static_cast<int>(kind) << " element " << e;
      }
    }
  }
}

// The segments one block's attention reads: same runs of slots, same rows, same bias.
void expect_segments(const KvStore& cpu, const KvStore& gpu, int64_t b, const std::vector<ops::KVSegment>& cs,
                     const std::vector<ops::KVSegment>& gs) {
  const int64_t row = cpu.config().row_floats();
  ASSERT_EQ(cs.size(), gs.size()) << "block " << b;
  for (size_t i = 0; i < cs.size(); ++i) {
    ASSERT_EQ(cs[i].len, gs[i].len) << "segment " << i;
    const int64_t first = (cs[i].k - cpu.k_rot(b, 0)) / row;
    ASSERT_EQ(first, (gs[i].k - gpu.k_rot(b, 0)) / row) << "segment " << i << " starts elsewhere";
    ASSERT_EQ(gs[i].v - gpu.v(b, 0), gs[i].k - gpu.k_rot(b, 0));
    ASSERT_NO_FATAL_FAILURE(expect_rows(cpu, gpu, b, RowKind::KRot, first, cs[i].len, cs[i].k, gs[i].k));
    ASSERT_NO_FATAL_FAILURE(expect_rows(cpu, gpu, b, RowKind::V, first, cs[i].len, cs[i].v, gs[i].v));
    ASSERT_EQ(cs[i].bias == nullptr, gs[i].bias == nullptr) << "segment " << i;
    if (cs[i].bias) {
      const std::vector<float> bias = download(gs[i].bias, cs[i].len);
      for (int64_t j = 0; j < cs[i].len; ++j) ASSERT_EQ(bias[j], cs[i].bias[j]) << "bias of slot " << first + j;
    }
  }
}

// Everything observable of the two stores.
void expect_same_store(const KvStore& cpu, const KvStore& gpu) {
  ASSERT_EQ(cpu.frames(), gpu.frames());
  ASSERT_EQ(cpu.newest_frame(), gpu.newest_frame());
  ASSERT_EQ(cpu.sink_end(), gpu.sink_end());
  ASSERT_EQ(cpu.slots(), gpu.slots());
  ASSERT_EQ(cpu.bytes_used(), gpu.bytes_used());
  for (int64_t b = 0; b < cpu.config().blocks; ++b) {
    SCOPED_TRACE("block " + std::to_string(b));
    ASSERT_EQ(cpu.used_tokens(b), gpu.used_tokens(b));
    for (int64_t s = 0; s < cpu.slots(); ++s) {
      const TokenMeta &c = cpu.meta(b)[s], &g = gpu.meta(b)[s];
      ASSERT_EQ(c.frame, g.frame) << "slot " << s;
      ASSERT_EQ(c.row, g.row) << "slot " << s;
      ASSERT_EQ(c.col, g.col) << "slot " << s;
      ASSERT_EQ(c.log_count, g.log_count) << "slot " << s;
    }
    for (int64_t f : cpu.frames()) {
      const std::vector<int32_t>* c = cpu.frame_slots(b, f);
      const std::vector<int32_t>* g = gpu.frame_slots(b, f);
      ASSERT_EQ(c == nullptr, g == nullptr) << "frame " << f;
      if (c) {
        ASSERT_EQ(*c, *g) << "frame " << f;
      }
    }
    // Every used slot's rows, each kind (whole block downloaded once per kind).
    const RowKind kinds[] = {RowKind::KRaw, RowKind::KRot, RowKind::V};
    for (RowKind kind : kinds) {
      const float* c = kind == RowKind::KRaw ? cpu.k_raw(b, 0) : kind == RowKind::KRot ? cpu.k_rot(b, 0) : cpu.v(b, 0);
      const float* g = kind == RowKind::KRaw ? gpu.k_raw(b, 0) : kind == RowKind::KRot ? gpu.k_rot(b, 0) : gpu.v(b, 0);
      const int64_t row = cpu.config().row_floats();
      for (int64_t s = 0; s < cpu.slots(); ++s) {
        if (cpu.meta(b)[s].used()) {
          ASSERT_NO_FATAL_FAILURE(expect_rows(cpu, gpu, b, kind, s, 1, c + s * row, g + s * row));
        }
      }
    }
    // The policy's scores.
    std::vector<float> cs(static_cast<size_t>(cpu.slots()), -1.0f), gs(cs);
    ASSERT_EQ(cpu.policy().score(cpu, b, cs), gpu.policy().score(gpu, b, gs));
    for (int64_t s = 0; s < cpu.slots(); ++s)
      ASSERT_TRUE(close(gs[s], cs[s])) << "score of slot " << s << ": " << gs[s] << " vs " << cs[s];
  }
  const CacheStats &c = cpu.stats(), &g = gpu.stats();
  ASSERT_EQ(c.policy, g.policy);
  ASSERT_EQ(c.budget_tokens, g.budget_tokens);
  ASSERT_EQ(c.bytes_used, g.bytes_used);
  ASSERT_EQ(c.bytes_budget, g.bytes_budget);
  ASSERT_EQ(c.frames, g.frames);
  ASSERT_EQ(c.slots.size(), g.slots.size());
  for (size_t i = 0; i < c.slots.size(); ++i) {
    ASSERT_EQ(c.slots[i].tokens, g.slots[i].tokens) << "stats cell " << i;
    ASSERT_EQ(c.slots[i].kind, g.slots[i].kind) << "stats cell " << i;
  }
  ASSERT_EQ(c.token_scores.size(), g.token_scores.size());
  for (size_t i = 0; i < c.token_scores.size(); ++i) {
    ASSERT_EQ(c.token_scores[i].scores.size(), g.token_scores[i].scores.size());
    for (size_t j = 0; j < c.token_scores[i].scores.size(); ++j) {
      const float cv = c.token_scores[i].scores[j], gv = g.token_scores[i].scores[j];
      ASSERT_EQ(std::isnan(cv), std::isnan(gv)) << "token score " << i << "/" << j;
      if (!std::isnan(cv)) {
        ASSERT_TRUE(close(gv, cv)) << "token score " << i << "/" << j << ": " << gv << " vs " << cv;
      }
    }
  }
}

// One model call on both stores: begin, then per block write, observe and
// read the segments (compared), end; then everything is compared.
void call_both(KvStore& cpu, KvStore& gpu, int64_t start, int64_t frames, bool update, const CallData& d) {
  const int64_t T = frames * cpu.config().tokens_per_frame();
  cpu.begin_call(start, frames, update);
  gpu.begin_call(start, frames, update);
  for (int64_t b = 0; b < cpu.config().blocks; ++b) {
    cpu.write_call(b, d.k_raw.data(), d.k_rot.data(), d.v.data(), T);
    gpu.write_call(b, d.d_k_raw.f32(), d.d_k_rot.f32(), d.d_v.f32(), T);
    cpu.observe(b, d.q_raw.data(), d.q_rot.data(), T);
    gpu.observe(b, d.d_q_raw.f32(), d.d_q_rot.f32(), T);
    ASSERT_NO_FATAL_FAILURE(expect_segments(cpu, gpu, b, cpu.segments(b), gpu.segments(b)));
  }
  cpu.end_call();
  gpu.end_call();
  ASSERT_NO_FATAL_FAILURE(expect_same_store(cpu, gpu));
}

// Runs can be replayed by policy and variant: chunks of 1-2 frames, a noisy
// call and the clean pass each, into 5 frames of budget with a 1-frame sink;
// midway the budget shrinks to 4 frames, the policy is switched to another
// scoring one and back, the budget grows to 6 frames, and the stores are
// cleared and refilled.
void run_policy(const std::string& name, int64_t max_attention_tokens) {
  PolicyOptions opt;
  opt.recent_frames = 1;
  opt.observed_queries = 5;  // fewer than a call's tokens: sampled queries
  const KvStoreConfig c = small_config(/*budget_frames=*/5, /*sink=*/1, max_attention_tokens);
  KvStore cpu(c, make_policy(name, opt));
  KvStore gpu(on(c, Backend::CUDA), make_policy(name, opt));
  ASSERT_NO_FATAL_FAILURE(expect_same_store(cpu, gpu));
  const std::string other = name == "future" ? "observed" : "future";
  std::mt19937 rng(1234);
  std::vector<float> prev_k, prev_v;  // the newest frame's keys and values
  const int64_t tpf = c.tokens_per_frame(), row = c.row_floats();
  int64_t start = 0;
  for (int chunk = 0; chunk < 48; ++chunk) {
    SCOPED_TRACE(name + ", chunk " + std::to_string(chunk));
    if (chunk == 18) {
      cpu.set_budget(4 * tpf);
      gpu.set_budget(4 * tpf);
    }
    if (chunk == 24) {
      cpu.set_policy(make_policy(other, opt));
      gpu.set_policy(make_policy(other, opt));
    }
    if (chunk == 32) {
      cpu.set_budget(6 * tpf);
      gpu.set_budget(6 * tpf);
      cpu.set_policy(make_policy(name, opt));
      gpu.set_policy(make_policy(name, opt));
    }
    if (chunk == 40) {
      cpu.clear();
      gpu.clear();
      prev_k.clear();
      prev_v.clear();
    }
    if (chunk == 18 || chunk == 24 || chunk == 32 || chunk == 40) {
      ASSERT_NO_FATAL_FAILURE(expect_same_store(cpu, gpu));
    }
    const int64_t frames = 1 + static_cast<int64_t>(rng() % 2);
    for (int step = 0; step < 2; ++step) {
      const CallData d = random_call(c, frames, rng, prev_k, prev_v);
      ASSERT_NO_FATAL_FAILURE(call_both(cpu, gpu, start, frames, step == 1, d));
      if (step == 1) {
        prev_k.assign(d.k_raw.end() - tpf * row, d.k_raw.end());
        prev_v.assign(d.v.end() - tpf * row, d.v.end());
      }
    }
    start += frames;
  }
}

TEST(CudaKvStore, FullPolicyMatchesTheCpuStore) {
  WL_REQUIRE_CUDA();
  run_policy("full", 0);
}

TEST(CudaKvStore, WindowPolicyMatchesTheCpuStore) {
  WL_REQUIRE_CUDA();
  run_policy("window", 0);
}

TEST(CudaKvStore, SinkPolicyMatchesTheCpuStore) {
  WL_REQUIRE_CUDA();
  run_policy("sink", 0);
}

TEST(CudaKvStore, ObservedPolicyMatchesTheCpuStore) {
  WL_REQUIRE_CUDA();
  run_policy("observed", 0);
  run_policy("observed", /*max_attention_tokens=*/20);  // attention trimmed inside a frame
}

TEST(CudaKvStore, FuturePolicyMatchesTheCpuStore) {
  WL_REQUIRE_CUDA();
  run_policy("future", 0);
  run_policy("future", /*max_attention_tokens=*/20);
}

// The future policy merges on its own in this data; this checks that it did,
// so the comparisons above cover merged rows and the bias.
TEST(CudaKvStore, FutureRunMergesTokens) {
  WL_REQUIRE_CUDA();
  PolicyOptions opt;
  opt.recent_frames = 1;
  const KvStoreConfig c = small_config(5, 1);
  KvStore gpu(on(c, Backend::CUDA), make_policy("future", opt));
  std::mt19937 rng(1234);
  std::vector<float> prev_k, prev_v;
  const int64_t row = c.row_floats(), tpf = c.tokens_per_frame();
  int64_t merged = 0;
  for (int64_t f = 0; f < 12; ++f) {
    const CallData d = random_call(c, 1, rng, prev_k, prev_v);
    gpu.begin_call(f, 1, true);
    for (int64_t b = 0; b < c.blocks; ++b) {
      gpu.write_call(b, d.d_k_raw.f32(), d.d_k_rot.f32(), d.d_v.f32(), tpf);
      gpu.observe(b, d.d_q_raw.f32(), d.d_q_rot.f32(), tpf);
    }
    gpu.end_call();
    prev_k.assign(d.k_raw.end() - tpf * row, d.k_raw.end());
    prev_v.assign(d.v.end() - tpf * row, d.v.end());
    for (const TokenMeta& m : gpu.meta(0)) merged += m.used() && m.log_count > 0;
  }
  EXPECT_GT(merged, 0);
}

// Chains of merges into one slot (queued on the host, applied in order on
// the device), mixed with merges in the other block, then a write.
TEST(CudaKvStore, ChainedMergesApplyInOrder) {
  WL_REQUIRE_CUDA();
  const KvStoreConfig c = small_config(4, 0);
  KvStore cpu(c, make_policy("full"));
  KvStore gpu(on(c, Backend::CUDA), make_policy("full"));
  std::mt19937 rng(5);
  std::vector<float> none;
  ASSERT_NO_FATAL_FAILURE(call_both(cpu, gpu, 0, 2, true, random_call(c, 2, rng, none, none)));
  ASSERT_NO_FATAL_FAILURE(call_both(cpu, gpu, 2, 2, true, random_call(c, 2, rng, none, none)));
  auto slot = [&](int64_t b, int64_t frame, int64_t token) { return (*cpu.frame_slots(b, frame))[token]; };
  const struct {
    int64_t b, into_frame, into_token, from_frame, from_token;
    float w_into, w_from;
  } merges[] = {{0, 0, 0, 0, 1, 1.0f, 2.0f}, {0, 0, 0, 1, 0, 0.3f, 0.7f}, {1, 2, 3, 2, 4, 0.5f, 0.5f},
                {0, 1, 1, 0, 0, 2.0f, 1.0f}, {0, 1, 1, 3, 5, 1.0f, 1.0f}, {1, 2, 3, 1, 2, 4.0f, 1.0f},
                {0, 2, 0, 2, 1, 1.0f, 3.0f}};
  for (const auto& m : merges) {
    const int64_t into = slot(m.b, m.into_frame, m.into_token), from = slot(m.b, m.from_frame, m.from_token);
    cpu.merge(m.b, into, from, m.w_into, m.w_from);
    gpu.merge(m.b, into, from, m.w_into, m.w_from);
  }
  ASSERT_NO_FATAL_FAILURE(expect_same_store(cpu, gpu));
  // A new frame reuses freed slots.
  ASSERT_NO_FATAL_FAILURE(call_both(cpu, gpu, 4, 1, true, random_call(c, 1, rng, none, none)));
}

// Rolling Forcing over a CUDA store: the sink gathered and re-RoPE'd on the
// device (ops::rope_3d), the working cache and the call's own tokens, for
// window calls and cache updates.
TEST(CudaKvStore, RollingWindowMatchesTheCpuStore) {
  WL_REQUIRE_CUDA();
  const int64_t chunk = 2, steps = 3;
  const KvStoreConfig c = small_config(/*budget_frames=*/10, /*sink=*/chunk);
  KvStore cpu_store(c, make_policy("full"));
  KvStore gpu_store(on(c, Backend::CUDA), make_policy("full"));
  RollingWindowKv cpu(cpu_store, chunk, /*attention_frames=*/8);
  RollingWindowKv gpu(gpu_store, chunk, 8);
  std::mt19937 rng(9);
  std::vector<float> none;
  const int64_t chunks = 9, row = c.row_floats();
  for (int64_t w = 0; w < chunks + steps - 1; ++w) {
    const int64_t first = std::max<int64_t>(0, w - steps + 1), last = std::min<int64_t>(chunks - 1, w);
    for (int update = 0; update < 2; ++update) {
      SCOPED_TRACE("window " + std::to_string(w) + (update ? " update" : ""));
      const int64_t frames = update ? chunk : (last - first + 1) * chunk;
      const int64_t T = frames * c.tokens_per_frame();
      const CallData d = random_call(c, frames, rng, none, none);
      cpu.begin_call(first * chunk, frames, update == 1);
      gpu.begin_call(first * chunk, frames, update == 1);
      for (int64_t b = 0; b < c.blocks; ++b) {
        cpu.write_call(b, d.k_raw.data(), d.k_rot.data(), d.v.data(), T);
        gpu.write_call(b, d.d_k_raw.f32(), d.d_k_rot.f32(), d.d_v.f32(), T);
        const auto cs = cpu.segments(b, d.k_rot.data(), d.v.data(), T);
        const auto gs = gpu.segments(b, d.d_k_rot.f32(), d.d_v.f32(), T);
        ASSERT_EQ(cs.size(), gs.size());
        for (size_t i = 0; i < cs.size(); ++i) {
          ASSERT_EQ(cs[i].len, gs[i].len) << "segment " << i;
          ASSERT_EQ(cs[i].bias == nullptr, gs[i].bias == nullptr);
          const int64_t n = cs[i].len * row;
          const Tensor want_k = Tensor::from_floats(std::vector<float>(cs[i].k, cs[i].k + n), {n});
          const Tensor got_k = Tensor::from_floats(download(gs[i].k, n), {n});
          // The sink's keys are rotated on each side (f32 tolerance); everything else is copied.
          EXPECT_LE(gpu_test::normalised_error(got_k, want_k), 1e-5) << "keys of segment " << i;
          const std::vector<float> got_v = download(gs[i].v, n);
          for (int64_t e = 0; e < n; ++e) ASSERT_EQ(got_v[e], cs[i].v[e]) << "values of segment " << i;
        }
      }
      cpu.end_call();
      gpu.end_call();
      ASSERT_NO_FATAL_FAILURE(expect_same_store(cpu_store, gpu_store));
    }
  }
}

// Runs everywhere: without a device, asking for a CUDA store says why.
TEST(CudaKvStoreAvailability, ACudaStoreWithoutADeviceThrowsWithTheReason) {
  const KvStoreConfig c = on(small_config(4, 1), Backend::CUDA);
  if (ops::backend_available(Backend::CUDA)) {
    EXPECT_NO_THROW(KvStore(c, make_policy("full")));
  } else {
    try {
      KvStore store(c, make_policy("full"));
      FAIL() << "a CUDA store was made without a device";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(ops::backend_unavailable_reason(Backend::CUDA)), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace wl::cache
