// The cache policies (docs/model.md §5) on synthetic caches with known answers:
// budgets hold, the sink and the newest chunk survive, "window" keeps
// exactly the newest frames, "observed" keeps what was attended, "future"
// ranks keys by the attention of the predicted future queries (checked
// against a brute-force RoPE computation) and merges redundant tokens before
// evicting, and merging identical tokens leaves attention unchanged. Last, a
// 2,000-chunk run per policy keeps memory flat past frame 1024.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cache/kv_store.h"
#include "runtime/core/error.h"
#include "runtime/model/causal_dit.h"
#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"
#include "tests/support/random_checkpoint.h"

namespace {

using wl::cache::KvStore;
using wl::cache::KvStoreConfig;
using wl::cache::PolicyOptions;
using wl::cache::TokenMeta;

const std::vector<std::string> kAllPolicies = {"full", "window", "sink", "observed", "future"};

KvStoreConfig config(int64_t heads, int64_t head_dim, int64_t rows, int64_t cols, int64_t budget_frames,
                     int64_t sink, int64_t blocks = 2) {
  KvStoreConfig c;
  c.blocks = blocks;
  c.heads = heads;
  c.head_dim = head_dim;
  c.rows = rows;
  c.cols = cols;
  c.budget_tokens = budget_frames * rows * cols;
  c.sink_frames = sink;
  return c;
}

// Synthetic per-call data: keys (raw and rotated), values and queries, each
// [tokens, heads, head_dim], the same for every block unless changed.
struct CallData {
  std::vector<float> k_raw, k_rot, v, q_raw, q_rot;
  void resize(size_t n) {
    for (auto* x : {&k_raw, &k_rot, &v, &q_raw, &q_rot}) x->assign(n, 0.0f);
  }
};

void fill_random(CallData& d, size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  d.resize(n);
  for (auto* x : {&d.k_raw, &d.v, &d.q_raw}) std::generate(x->begin(), x->end(), [&] { return normal(rng); });
  d.k_rot = d.k_raw;  // synthetic: positions do not matter to these checks
  d.q_rot = d.q_raw;
}

// One model call as the DiT makes it: begin, then per block write, observe,
// read the segments; end.
void run_call(KvStore& store, int64_t start, int64_t frames, bool update, const CallData& d) {
  const int64_t T = frames * store.config().tokens_per_frame();
  store.begin_call(start, frames, update);
  for (int64_t b = 0; b < store.config().blocks; ++b) {
    store.write_call(b, d.k_raw.data(), d.k_rot.data(), d.v.data(), T);
    store.observe(b, d.q_raw.data(), d.q_rot.data(), T);
    (void)store.segments(b);
  }
  store.end_call();
}

std::set<int64_t> frames_of_block(const KvStore& store, int64_t block) {
  std::set<int64_t> out;
  for (const TokenMeta& m : store.meta(block))
    if (m.used()) out.insert(m.frame);
  return out;
}

int64_t tokens_of_frame(const KvStore& store, int64_t block, int64_t frame) {
  int64_t n = 0;
  for (const TokenMeta& m : store.meta(block)) n += m.used() && m.frame == frame;
  return n;
}

TEST(CachePolicies, RegistryKnowsEveryPolicy) {
  const std::vector<std::string> names = wl::cache::policy_names();
  for (const std::string& n : kAllPolicies) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
    EXPECT_EQ(wl::cache::make_policy(n)->name(), n);
  }
  try {
    wl::cache::make_policy("lru");
    FAIL() << "no error for an unknown policy";
  } catch (const wl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("future"), std::string::npos) << "the message lists the known policies";
  }
}

// 200 chunks of 1-3 frames with random keys: no policy ever holds more than
// the budget, and the sink (except for "window") and the current chunk stay.
TEST(CachePolicies, BudgetHoldsAndSinkAndNewestChunkSurvive) {
  for (const std::string& name : kAllPolicies) {
    SCOPED_TRACE(name);
    PolicyOptions opt;
    opt.recent_frames = 2;
    KvStore store(config(2, 16, 3, 4, /*budget=*/7, /*sink=*/2), wl::cache::make_policy(name, opt));
    const int64_t tpf = 12;
    std::mt19937 rng(11);
    std::uniform_int_distribution<int> chunk_len(1, 3);
    CallData d;
    int64_t start = 0;
    for (int chunk = 0; chunk < 200; ++chunk) {
      const int64_t frames = chunk_len(rng);
      for (int step = 0; step < 3; ++step) {
        fill_random(d, static_cast<size_t>(frames * tpf * 32), rng);
        run_call(store, start, frames, step == 2, d);
        for (int64_t b = 0; b < 2; ++b) {
          ASSERT_LE(store.used_tokens(b), store.config().budget_tokens) << "chunk " << chunk;
          for (int64_t f = start; f < start + frames; ++f)
            ASSERT_EQ(tokens_of_frame(store, b, f), tpf) << "the current chunk is whole, frame " << f;
          if (name != "window" && start >= 2) {
            ASSERT_EQ(tokens_of_frame(store, b, 0), tpf) << "sink frame 0";
            ASSERT_EQ(tokens_of_frame(store, b, 1), tpf) << "sink frame 1";
          }
        }
      }
      EXPECT_LE(store.stats().bytes_used, store.stats().bytes_budget);
      start += frames;
    }
  }
}

TEST(CachePolicies, WindowKeepsExactlyTheMostRecentFrames) {
  KvStore store(config(2, 8, 2, 2, /*budget=*/6, /*sink=*/0), wl::cache::make_policy("window"));
  std::mt19937 rng(3);
  CallData d;
  for (int64_t c = 0; c < 10; ++c) {
    fill_random(d, 2 * 4 * 16, rng);
    run_call(store, 2 * c, 2, true, d);
    const int64_t newest = 2 * c + 1, oldest = std::max<int64_t>(0, newest - 5);
    std::set<int64_t> want;
    for (int64_t f = oldest; f <= newest; ++f) want.insert(f);
    for (int64_t b = 0; b < 2; ++b) EXPECT_EQ(frames_of_block(store, b), want) << "chunk " << c;
  }
  // The window does not keep a sink: with a store sink the oldest frames still go.
  KvStore sinky(config(2, 8, 2, 2, /*budget=*/6, /*sink=*/2), wl::cache::make_policy("window"));
  for (int64_t c = 0; c < 6; ++c) {
    fill_random(d, 2 * 4 * 16, rng);
    run_call(sinky, 2 * c, 2, true, d);
  }
  EXPECT_EQ(frames_of_block(sinky, 0), (std::set<int64_t>{6, 7, 8, 9, 10, 11}));
}

TEST(CachePolicies, SinkKeepsTheSinkPlusTheNewestFrames) {
  KvStore store(config(2, 8, 2, 2, /*budget=*/6, /*sink=*/2), wl::cache::make_policy("sink"));
  std::mt19937 rng(4);
  CallData d;
  for (int64_t c = 0; c < 8; ++c) {
    fill_random(d, 2 * 4 * 16, rng);
    run_call(store, 2 * c, 2, true, d);
  }
  EXPECT_EQ(frames_of_block(store, 1), (std::set<int64_t>{0, 1, 12, 13, 14, 15}));
}

// Frames 0-3 of 2x3 tokens, one head of 8; tokens 0 and 1 of frame 0 hold a
// key every query points at. When frame 4 needs room, "observed" evicts
// unattended tokens (of frames 0-2) and keeps the two attended ones, where
// "full" would drop all of frame 0.
TEST(CachePolicies, ObservedKeepsWhatWasAttended) {
  PolicyOptions opt;
  opt.recent_frames = 1;
  KvStore store(config(1, 8, 2, 3, /*budget=*/4, /*sink=*/0, /*blocks=*/1), wl::cache::make_policy("observed", opt));
  std::mt19937 rng(5);
  std::normal_distribution<float> small(0.0f, 0.1f);
  const std::vector<float> u = {1, 0, 0, 0, 0, 0, 0, 0};
  CallData d;
  for (int64_t f = 0; f < 5; ++f) {
    fill_random(d, 6 * 8, rng, 0.1f);
    if (f == 0)
      for (int tok = 0; tok < 2; ++tok)
        for (int e = 0; e < 8; ++e) d.k_rot[tok * 8 + e] = d.k_raw[tok * 8 + e] = 4.0f * u[e];
    for (int64_t t = 0; t < 6; ++t)
      for (int e = 0; e < 8; ++e) d.q_rot[t * 8 + e] = d.q_raw[t * 8 + e] = 3.0f * u[e] + small(rng);
    run_call(store, f, 1, false, d);  // a noisy pass: not observed
    run_call(store, f, 1, true, d);
  }
  const std::vector<int32_t>* f0 = store.frame_slots(0, 0);
  ASSERT_NE(f0, nullptr) << "frame 0 was evicted whole";
  EXPECT_GE((*f0)[0], 0);
  EXPECT_GE((*f0)[1], 0);
  EXPECT_EQ(store.used_tokens(0), 24);
  EXPECT_EQ(tokens_of_frame(store, 0, 3), 6) << "the recent frame stays";
  EXPECT_EQ(tokens_of_frame(store, 0, 4), 6);
  EXPECT_EQ(tokens_of_frame(store, 0, 0) + tokens_of_frame(store, 0, 1) + tokens_of_frame(store, 0, 2), 12);
  // The scores (accumulated mass) rank the attended tokens on top.
  std::vector<float> scores(static_cast<size_t>(store.slots()), NAN);
  ASSERT_TRUE(store.policy().score(store, 0, scores));
  for (int64_t s = 0; s < store.slots(); ++s)
    if (store.meta(0)[s].used() && s != (*f0)[0] && s != (*f0)[1]) {
      EXPECT_LT(scores[s], scores[(*f0)[0]]);
    }
  ASSERT_FALSE(store.stats().token_scores.empty());
}

// Queries clustered around mu: a cached key along mu (rotated at its own
// position, as the model stores it) scores above one orthogonal to mu.
TEST(CachePolicies, FutureRanksAKeyAlignedWithTheMeanQueryFirst) {
  const int64_t H = 2, d = 16, rows = 2, cols = 2, tpf = rows * cols;
  PolicyOptions opt;
  opt.merge = false;
  opt.recent_frames = 0;  // frame 0 competes with frames 1-3 on scores alone
  KvStore store(config(H, d, rows, cols, /*budget=*/4, /*sink=*/0, /*blocks=*/1), wl::cache::make_policy("future", opt));
  std::mt19937 rng(6);
  std::normal_distribution<float> normal;
  std::vector<float> mu(H * d), orth(H * d);
  for (float& x : mu) x = 2.0f * normal(rng);
  for (int64_t h = 0; h < H; ++h) {  // orth: random, minus its projection on mu, at mu's norm
    float* o = &orth[h * d];
    const float* m = &mu[h * d];
    for (int64_t e = 0; e < d; ++e) o[e] = normal(rng);
    float om = 0, mm = 0;
    for (int64_t e = 0; e < d; ++e) om += o[e] * m[e], mm += m[e] * m[e];
    float oo = 0;
    for (int64_t e = 0; e < d; ++e) o[e] -= om / mm * m[e], oo += o[e] * o[e];
    for (int64_t e = 0; e < d; ++e) o[e] *= std::sqrt(mm / oo);
  }
  CallData dat;
  for (int64_t f = 0; f < 3; ++f) {
    fill_random(dat, tpf * H * d, rng, 0.05f);
    if (f == 0) {  // token 0 along mu, token 1 orthogonal, both RoPE'd at frame 0
      std::copy(mu.begin(), mu.end(), dat.k_raw.begin());
      std::copy(orth.begin(), orth.end(), dat.k_raw.begin() + H * d);
      wl::Tensor k = wl::Tensor::from_floats(dat.k_raw, {tpf, H, d});
      wl::ops::rope_3d(k, 0, 1, rows, cols);
      dat.k_rot.assign(k.f32(), k.f32() + k.numel());
      std::fill(dat.v.begin(), dat.v.begin() + 2 * H * d, 1.0f);  // equal value norms
    }
    for (int64_t t = 0; t < tpf; ++t)
      for (int64_t i = 0; i < H * d; ++i) dat.q_raw[t * H * d + i] = mu[i] + 0.1f * normal(rng);
    run_call(store, f, 1, true, dat);
  }
  std::vector<float> scores(static_cast<size_t>(store.slots()), -1.0f);  // free slots stay -1
  ASSERT_TRUE(store.policy().score(store, 0, scores));
  const int64_t aligned = (*store.frame_slots(0, 0))[0], orthogonal = (*store.frame_slots(0, 0))[1];
  EXPECT_GT(scores[aligned], 2.0f * scores[orthogonal]);
  // The aligned key is the top score of the cache.
  EXPECT_EQ(std::max_element(scores.begin(), scores.end()) - scores.begin(), aligned);
  // And it survives when frame 0 must give up tokens.
  fill_random(dat, tpf * H * d, rng, 0.05f);
  for (int64_t i = 0; i < tpf * H * d; ++i) dat.q_raw[i] = mu[i % (H * d)];
  run_call(store, 3, 1, true, dat);
  run_call(store, 4, 1, true, dat);  // needs tpf slots, taken from frames 0-2
  EXPECT_EQ(store.meta(0)[aligned].frame, 0);
  EXPECT_EQ(store.meta(0)[aligned].row + store.meta(0)[aligned].col, 0);
}

// The proxy's arithmetic against a brute-force evaluation: one horizon
// offset, no variance term, no value weighting. Then a key's share is the
// softmax over the cached keys of the logit of the mean query, RoPE'd at
// frame newest + D and averaged over the frame's rows and columns.
TEST(CachePolicies, FutureSharesMatchTheRotatedMeanQuery) {
  const int64_t H = 2, d = 24, rows = 3, cols = 2, tpf = rows * cols;
  PolicyOptions opt;
  opt.merge = false;
  opt.horizon = {3};
  opt.variance_term = false;
  opt.weight_by_value_norm = false;
  KvStore store(config(H, d, rows, cols, /*budget=*/4, /*sink=*/0, /*blocks=*/1), wl::cache::make_policy("future", opt));
  std::mt19937 rng(8);
  std::normal_distribution<float> normal;
  CallData dat;
  std::vector<double> q_sum(H * d, 0.0);
  int64_t q_count = 0;
  for (int64_t f = 0; f < 3; ++f) {
    fill_random(dat, tpf * H * d, rng, 0.7f);
    wl::Tensor k = wl::Tensor::from_floats(dat.k_raw, {tpf, H, d});
    wl::ops::rope_3d(k, f, 1, rows, cols);
    dat.k_rot.assign(k.f32(), k.f32() + k.numel());
    for (int64_t i = 0; i < tpf * H * d; ++i) {
      dat.q_raw[i] += 0.5f;  // a mean away from zero
      q_sum[i % (H * d)] += dat.q_raw[i];
    }
    q_count += tpf;
    run_call(store, f, 1, true, dat);
  }
  // Expected: the mean query RoPE'd at frame 2 + 3 on every grid position.
  std::vector<float> grid(tpf * H * d);
  for (int64_t i = 0; i < tpf * H * d; ++i) grid[i] = static_cast<float>(q_sum[i % (H * d)] / q_count);
  wl::Tensor q = wl::Tensor::from_floats(grid, {tpf, H, d});
  wl::ops::rope_3d(q, 5, 1, rows, cols);
  std::vector<int64_t> slots;
  for (int64_t s = 0; s < store.slots(); ++s)
    if (store.meta(0)[s].used()) slots.push_back(s);
  std::vector<double> want(store.slots(), 0.0);
  for (int64_t h = 0; h < H; ++h) {
    std::vector<double> logit;
    for (int64_t s : slots) {
      double l = 0;
      for (int64_t t = 0; t < tpf; ++t)
        for (int64_t e = 0; e < d; ++e) l += q.f32()[(t * H + h) * d + e] * store.k_rot(0, s)[h * d + e];
      logit.push_back(l / tpf / std::sqrt(static_cast<double>(d)));
    }
    const double mx = *std::max_element(logit.begin(), logit.end());
    double sum = 0;
    for (double& l : logit) sum += (l = std::exp(l - mx));
    for (size_t j = 0; j < slots.size(); ++j) want[slots[j]] += logit[j] / sum / H;
  }
  std::vector<float> got(static_cast<size_t>(store.slots()), NAN);
  ASSERT_TRUE(store.policy().score(store, 0, got));
  for (int64_t s : slots) EXPECT_NEAR(got[s], want[s], 2e-4 * std::max(1.0, want[s] * slots.size())) << "slot " << s;
}

// A static scene: frames 1 and 2 hold the same keys and values token by
// token. "future" makes room for a new frame by merging those pairs instead
// of evicting anything.
TEST(CachePolicies, FutureMergesRedundantTokensBeforeEvicting) {
  const int64_t H = 2, d = 16, tpf = 4;
  PolicyOptions opt;
  opt.recent_frames = 1;
  KvStore store(config(H, d, 2, 2, /*budget=*/4, /*sink=*/0, /*blocks=*/1), wl::cache::make_policy("future", opt));
  std::mt19937 rng(9);
  CallData dat, frame1;
  for (int64_t f = 0; f < 5; ++f) {
    fill_random(dat, tpf * H * d, rng);
    if (f == 1) frame1 = dat;
    if (f == 2) {
      dat.k_raw = frame1.k_raw;
      dat.k_rot = frame1.k_rot;
      dat.v = frame1.v;
    }
    run_call(store, f, 1, true, dat);
  }
  EXPECT_EQ(store.used_tokens(0), 16);
  EXPECT_EQ(tokens_of_frame(store, 0, 0), tpf) << "nothing evicted";
  EXPECT_EQ(tokens_of_frame(store, 0, 1) + tokens_of_frame(store, 0, 2), tpf);
  int merged = 0;
  for (const TokenMeta& m : store.meta(0))
    if (m.used() && m.log_count > 0) {
      ++merged;
      EXPECT_NEAR(m.log_count, std::log(2.0f), 1e-6f);
      EXPECT_TRUE(m.frame == 1 || m.frame == 2);
    }
  EXPECT_EQ(merged, tpf);
  const wl::cache::CacheStats& s = store.stats();
  bool merged_kind = false;
  for (size_t c = 0; c < s.frames.size(); ++c) merged_kind |= s.slot(0, c).kind == wl::cache::SlotKind::Merged;
  EXPECT_TRUE(merged_kind);
}

// Two identical (k, v) tokens merged into one with log-count bias log 2:
// every query's attention output stays the same.
TEST(CachePolicies, MergingIdenticalTokensChangesNoAttentionOutput) {
  const int64_t H = 2, d = 16, tpf = 6;
  KvStore store(config(H, d, 2, 3, /*budget=*/4, /*sink=*/0, /*blocks=*/1), wl::cache::make_policy("full"));
  std::mt19937 rng(10);
  CallData dat;
  for (int64_t f = 0; f < 3; ++f) {
    fill_random(dat, tpf * H * d, rng);
    if (f == 1)  // token 4 of frame 1 repeats token 1 of frame 1
      for (int64_t i = 0; i < H * d; ++i) {
        dat.k_rot[4 * H * d + i] = dat.k_rot[1 * H * d + i];
        dat.v[4 * H * d + i] = dat.v[1 * H * d + i];
      }
    run_call(store, f, 1, true, dat);
  }
  std::vector<float> qv(5 * H * d);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (float& x : qv) x = normal(rng);
  const wl::Tensor q = wl::Tensor::from_floats(qv, {5, H, d});
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  wl::Tensor before = wl::Tensor::zeros({5, H, d}), after = wl::Tensor::zeros({5, H, d});
  wl::ops::attention(q, store.segments(0), scale, before);
  const std::vector<int32_t> f1 = *store.frame_slots(0, 1);
  store.merge(0, f1[1], f1[4], 0.3f, 0.7f);
  const auto segs = store.segments(0);
  int64_t n = 0;
  for (const auto& s : segs) n += s.len;
  EXPECT_EQ(n, 3 * tpf - 1);
  wl::ops::attention(q, segs, scale, after);
  for (int64_t i = 0; i < before.numel(); ++i) EXPECT_NEAR(after.f32()[i], before.f32()[i], 1e-6f) << i;
}

// Every policy behind the real model (a small random checkpoint): chunks of
// 2 frames, 2 denoising calls and the clean pass each, into a 5-frame cache
// with a 1-frame sink, every policy fed the same inputs. Outputs stay finite
// and the budget holds; until the cache first overflows every policy gives
// the same outputs bit for bit, and after it the frames each keeps are its
// rule's and reach the model: "sink" evicts exactly as "full" does and
// matches it, while "window" (which drops the sink) keeps other frames and
// gives other outputs. The scoring policies publish per-token scores learned
// from the model's own queries.
TEST(CachePolicies, EveryPolicyRunsBehindTheModel) {
  wl::testref::RandomCheckpointSpec spec;  // dim 64, 4 heads of 16, 2 blocks
  const std::string path =
      (std::filesystem::temp_directory_path() / ("wl-cache-policies-" + std::to_string(::getpid()) + ".safetensors"))
          .string();
  wl::testref::write_random_checkpoint(path, spec);
  wl::WeightMap weights = wl::WeightMap::open(path);
  wl::CausalDit model(weights, wl::DitOptions{wl::ops::MatmulPrecision::F32});
  std::mt19937 ctx_rng(13);
  std::normal_distribution<float> normal;
  std::vector<float> ctx(4 * spec.text_dim);
  for (float& x : ctx) x = normal(ctx_rng);
  model.set_prompt(wl::Tensor::from_floats(ctx, {4, spec.text_dim}));
  const int64_t H = 8, W = 8, chunk = 2, chunks = 6;
  std::map<std::string, std::vector<std::vector<float>>> outputs;  // policy -> per chunk, its clean pass
  std::map<std::string, std::vector<int64_t>> kept;                // policy -> frames cached at the end
  for (const std::string& name : kAllPolicies) {
    SCOPED_TRACE(name);
    std::mt19937 rng(17);  // the same inputs for every policy
    KvStore cache(model.cache_config(H, W, /*capacity=*/5, /*sink=*/1), wl::cache::make_policy(name));
    for (int64_t c = 0; c < chunks; ++c) {
      for (int step = 0; step < 3; ++step) {
        std::vector<float> x(static_cast<size_t>(chunk * spec.in_dim * H * W));
        for (float& v : x) v = normal(rng);
        const wl::Tensor out = model.forward(wl::Tensor::from_floats(x, {chunk, spec.in_dim, H, W}),
                                             std::vector<float>(chunk, step == 2 ? 0.0f : 500.0f), c * chunk, cache,
                                             step == 2);
        for (int64_t i = 0; i < out.numel(); ++i) ASSERT_TRUE(std::isfinite(out.f32()[i]));
        for (int64_t b = 0; b < spec.num_layers; ++b) ASSERT_LE(cache.used_tokens(b), cache.config().budget_tokens);
        if (step == 1) outputs[name].push_back(out.to_floats());  // attends to the cache as the policy left it
      }
    }
    const auto& st = cache.stats();
    for (size_t col = 0; col < st.frames.size(); ++col)  // block 0's held frames (evicted ones show once)
      if (st.slot(0, col).kind != wl::cache::SlotKind::Evicted && st.slot(0, col).tokens > 0)
        kept[name].push_back(st.frames[col]);
    EXPECT_EQ(cache.stats().frames.back(), 11);
    const bool scores = name == "observed" || name == "future";
    EXPECT_EQ(!cache.stats().token_scores.empty(), scores);
  }
  // Frames 0..3 and the chunk being denoised fit in 5 frames: until chunk 2,
  // no policy has been asked for room.
  for (const std::string& name : kAllPolicies)
    for (int64_t c = 0; c < 2; ++c)
      EXPECT_EQ(outputs[name][static_cast<size_t>(c)], outputs["full"][static_cast<size_t>(c)])
          << name << " changed the model's output before the cache was full (chunk " << c << ")";
  EXPECT_EQ(kept["full"], (std::vector<int64_t>{0, 8, 9, 10, 11}));  // the sink and the newest
  EXPECT_EQ(kept["sink"], kept["full"]);
  EXPECT_EQ(kept["window"], (std::vector<int64_t>{7, 8, 9, 10, 11}));  // the newest only
  EXPECT_EQ(kept["observed"].front(), 0);
  EXPECT_EQ(kept["future"].front(), 0);
  EXPECT_EQ(outputs["sink"], outputs["full"]);
  EXPECT_NE(outputs["window"].back(), outputs["full"].back()) << "dropping the sink did not reach the model";
  std::filesystem::remove(path);
}

// Resident memory of this process in bytes (/proc/self/statm).
int64_t resident_bytes() {
  long pages_total = 0, pages_resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  const int n = std::fscanf(f, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(pages_resident) * sysconf(_SC_PAGESIZE) : -1;
}

// 2,000 chunks of 2 frames per policy (4,000 frames: past the reference's
// 1024-frame RoPE table): slots and bytes never pass the budget, and the
// process's resident memory grows by at most a small bound after warm-up.
TEST(CacheMemory, TwoThousandChunksStayFlatForEveryPolicy) {
  const int64_t chunks = 2000, chunk = 2, H = 2, d = 16, tpf = 16, T = chunk * tpf;
  for (const std::string& name : kAllPolicies) {
    SCOPED_TRACE(name);
    KvStore store(config(H, d, 4, 4, /*budget=*/8, /*sink=*/1), wl::cache::make_policy(name));
    const int64_t budget_bytes = store.stats().bytes_budget;
    // A pool of random calls reused round-robin keeps the test fast.
    std::mt19937 rng(12);
    std::vector<CallData> pool(7);
    for (CallData& c : pool) fill_random(c, static_cast<size_t>(T * H * d), rng);
    int64_t rss_warm = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t start = c * chunk;
      run_call(store, start, chunk, false, pool[c % 7]);
      run_call(store, start, chunk, true, pool[(c + 3) % 7]);
      for (int64_t b = 0; b < 2; ++b) ASSERT_LE(store.used_tokens(b), store.config().budget_tokens);
      ASSERT_LE(store.bytes_used(), budget_bytes);
      ASSERT_EQ(store.stats().frames.back(), start + chunk - 1);
      if (c == 100) rss_warm = resident_bytes();
    }
    const int64_t rss_end = resident_bytes();
    EXPECT_GT(store.newest_frame(), 1024);
    EXPECT_EQ(store.sink_end(), 1);
    EXPECT_EQ(tokens_of_frame(store, 0, 0), name == "window" ? 0 : tpf);
    if (rss_warm > 0 && rss_end > 0) {
      EXPECT_LE(rss_end - rss_warm, 512 * 1024) << "resident memory grew";
    }
  }
}

}  // namespace
