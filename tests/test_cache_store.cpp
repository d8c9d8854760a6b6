// KvStore semantics on synthetic data (docs/model.md §3): slots per frame,
// overwrite on re-call, the reference eviction, the sink, attention
// segments and their window, merging with a log-count bias, statistics and
// argument errors. Keys and values encode (block, frame, token, element) so
// every check can tell exactly which token sits where.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "cache/kv_store.h"
#include "runtime/core/error.h"

namespace {

using wl::cache::KvStore;
using wl::cache::KvStoreConfig;
using wl::cache::SlotKind;
using wl::cache::TokenMeta;

// 2 blocks, 2 heads of 4, 2x3 tokens per frame, 4 frames of budget, 1 sink frame.
KvStoreConfig small_config(int64_t sink = 1, int64_t budget_frames = 4) {
  KvStoreConfig c;
  c.blocks = 2;
  c.heads = 2;
  c.head_dim = 4;
  c.rows = 2;
  c.cols = 3;
  c.budget_tokens = budget_frames * c.tokens_per_frame();
  c.sink_frames = sink;
  return c;
}

// The value every stored float of (block, frame, token, element) gets; `tag`
// tells calls for the same frame apart and `which` k_raw (0), k_rot (1), v (2).
float code(int64_t block, int64_t frame, int64_t token, int64_t e, float tag, int which) {
  return static_cast<float>(block * 100000 + frame * 100 + token) + 0.01f * static_cast<float>(e) + tag +
         0.25f * static_cast<float>(which);
}

// One call on frames [start, start + frames), every block written with code().
void call(KvStore& store, int64_t start, int64_t frames, bool update = true, float tag = 0) {
  const KvStoreConfig& c = store.config();
  const int64_t T = frames * c.tokens_per_frame(), row = c.row_floats();
  store.begin_call(start, frames, update);
  std::vector<float> k_raw(T * row), k_rot(T * row), v(T * row);
  for (int64_t b = 0; b < c.blocks; ++b) {
    for (int64_t t = 0; t < T; ++t)
      for (int64_t e = 0; e < row; ++e) {
        const int64_t frame = start + t / c.tokens_per_frame(), tok = t % c.tokens_per_frame();
        k_raw[t * row + e] = code(b, frame, tok, e, tag, 0);
        k_rot[t * row + e] = code(b, frame, tok, e, tag, 1);
        v[t * row + e] = code(b, frame, tok, e, tag, 2);
      }
    store.write_call(b, k_raw.data(), k_rot.data(), v.data(), T);
  }
  store.end_call();
}

std::vector<int64_t> cached_frames(const KvStore& store) { return store.frames(); }

int64_t visible_count(const std::vector<wl::ops::KVSegment>& segs) {
  int64_t n = 0;
  for (const auto& s : segs) n += s.len;
  return n;
}

// The slot of each visible token, in segment order.
std::vector<int64_t> visible_slots(const KvStore& store, int64_t block) {
  std::vector<int64_t> out;
  const float* base = store.k_rot(block, 0);
  for (const auto& s : store.segments(block))
    for (int64_t i = 0; i < s.len; ++i) out.push_back((s.k - base) / store.config().row_floats() + i);
  return out;
}

TEST(KvStore, RecalledFrameKeepsItsSlotsAndTakesTheNewValues) {
  KvStore store(small_config(), wl::cache::make_policy("full"));
  call(store, 0, 2, false, 0.0f);
  const std::vector<int32_t> slots0 = *store.frame_slots(0, 0), slots1 = *store.frame_slots(0, 1);
  for (int step = 1; step <= 3; ++step) call(store, 0, 2, step == 3, 0.5f * step);
  EXPECT_EQ(*store.frame_slots(0, 0), slots0);
  EXPECT_EQ(*store.frame_slots(0, 1), slots1);
  EXPECT_EQ(store.used_tokens(0), 2 * 6);
  for (int64_t tok = 0; tok < 6; ++tok) {
    const int64_t s = slots1[tok];
    EXPECT_FLOAT_EQ(store.k_raw(0, s)[3], code(0, 1, tok, 3, 1.5f, 0));
    EXPECT_FLOAT_EQ(store.k_rot(0, s)[3], code(0, 1, tok, 3, 1.5f, 1));
    EXPECT_FLOAT_EQ(store.v(0, s)[3], code(0, 1, tok, 3, 1.5f, 2));
    EXPECT_EQ(store.meta(0)[s].frame, 1);
    EXPECT_EQ(store.meta(0)[s].row * 3 + store.meta(0)[s].col, tok);
  }
}

TEST(KvStore, FullPolicyEvictsTheOldestNonSinkFrames) {
  KvStore store(small_config(/*sink=*/1, /*budget_frames=*/4), wl::cache::make_policy("full"));
  for (int64_t f = 0; f < 6; ++f) call(store, f, 1);
  EXPECT_EQ(cached_frames(store), (std::vector<int64_t>{0, 3, 4, 5}));
  call(store, 6, 2);  // two frames at once: 3 and 4 go
  EXPECT_EQ(cached_frames(store), (std::vector<int64_t>{0, 5, 6, 7}));
  for (int64_t b = 0; b < 2; ++b) EXPECT_EQ(store.used_tokens(b), 24);
}

TEST(KvStore, SinkIsTheFirstFramesEverCachedEvenFromFrame1000) {
  KvStore store(small_config(/*sink=*/2, /*budget_frames=*/4), wl::cache::make_policy("full"));
  for (int64_t f = 1000; f < 1010; ++f) call(store, f, 1);
  EXPECT_EQ(store.sink_end(), 1002);
  EXPECT_TRUE(store.is_sink(1001));
  EXPECT_FALSE(store.is_sink(1002));
  EXPECT_EQ(cached_frames(store), (std::vector<int64_t>{1000, 1001, 1008, 1009}));
  // After clear() the sink follows the next first frame.
  store.clear();
  EXPECT_EQ(store.sink_end(), 0);
  call(store, 7, 1);
  EXPECT_EQ(store.sink_end(), 9);
}

TEST(KvStore, SegmentsCoverExactlyTheVisibleTokens) {
  KvStore store(small_config(/*sink=*/0), wl::cache::make_policy("full"));
  for (int64_t f = 0; f < 4; ++f) call(store, f, 1);
  // A call for the newest frame sees everything.
  call(store, 3, 1, false, 0.5f);
  EXPECT_EQ(visible_count(store.segments(0)), 24);
  // A re-call of frame 1 sees frames 0 and 1 only (nothing after its end).
  store.begin_call(1, 1, false);
  const std::vector<int64_t> slots = visible_slots(store, 0);
  EXPECT_EQ(slots.size(), 12u);
  std::set<int64_t> frames;
  for (int64_t s : slots) frames.insert(store.meta(0)[s].frame);
  EXPECT_EQ(frames, (std::set<int64_t>{0, 1}));
  EXPECT_EQ(std::set<int64_t>(slots.begin(), slots.end()).size(), slots.size()) << "a slot appears twice";
  store.end_call();
  // Every segment row holds what the slot holds.
  for (const auto& seg : store.segments(1))
    for (int64_t i = 0; i < seg.len; ++i) {
      const int64_t s = (seg.k - store.k_rot(1, 0)) / 8 + i;
      EXPECT_EQ(seg.k + i * 8, store.k_rot(1, s));
      EXPECT_EQ(seg.v + i * 8, store.v(1, s));
    }
}

TEST(KvStore, AttentionWindowTrimsTheOldestTokens) {
  KvStoreConfig c = small_config(/*sink=*/0);
  c.max_attention_tokens = 10;  // one frame of 6 and 4 tokens of the frame before
  KvStore store(c, wl::cache::make_policy("full"));
  for (int64_t f = 0; f < 4; ++f) call(store, f, 1);
  call(store, 3, 1, false);
  const std::vector<int64_t> slots = visible_slots(store, 0);
  ASSERT_EQ(slots.size(), 10u);
  std::set<std::pair<int64_t, int64_t>> seen;  // (frame, token)
  for (int64_t s : slots) seen.insert({store.meta(0)[s].frame, store.meta(0)[s].row * 3 + store.meta(0)[s].col});
  for (int64_t tok = 0; tok < 6; ++tok) EXPECT_TRUE(seen.count({3, tok}));
  for (int64_t tok = 2; tok < 6; ++tok) EXPECT_TRUE(seen.count({2, tok})) << "frame 2 keeps its last tokens";
  EXPECT_FALSE(seen.count({2, 0}));
  EXPECT_FALSE(seen.count({2, 1}));
  // frame_segments() ignores the window.
  int64_t n = 0;
  for (const auto& s : store.frame_segments(0, 0, 4)) n += s.len;
  EXPECT_EQ(n, 24);
}

TEST(KvStore, MergeAveragesKeysAndValuesAndCountsInLogSpace) {
  KvStore store(small_config(/*sink=*/0), wl::cache::make_policy("full"));
  call(store, 0, 2);
  const int64_t a = (*store.frame_slots(0, 0))[0], b = (*store.frame_slots(0, 1))[0];
  std::vector<float> ka(store.k_raw(0, a), store.k_raw(0, a) + 8), kb(store.k_raw(0, b), store.k_raw(0, b) + 8);
  std::vector<float> ra(store.k_rot(0, a), store.k_rot(0, a) + 8), rb(store.k_rot(0, b), store.k_rot(0, b) + 8);
  std::vector<float> va(store.v(0, a), store.v(0, a) + 8), vb(store.v(0, b), store.v(0, b) + 8);
  // Weights are normalised: (1, 3) is a quarter and three quarters.
  store.merge(0, a, b, 1.0f, 3.0f);
  for (int e = 0; e < 8; ++e) {
    EXPECT_NEAR(store.k_raw(0, a)[e], 0.25f * ka[e] + 0.75f * kb[e], 1e-3f);
    EXPECT_NEAR(store.k_rot(0, a)[e], 0.25f * ra[e] + 0.75f * rb[e], 1e-3f);
    EXPECT_NEAR(store.v(0, a)[e], 0.25f * va[e] + 0.75f * vb[e], 1e-3f);
  }
  EXPECT_NEAR(store.meta(0)[a].log_count, std::log(2.0f), 1e-6f);
  EXPECT_EQ(store.meta(0)[a].frame, 0) << "the survivor keeps its own position";
  EXPECT_FALSE(store.meta(0)[b].used());
  EXPECT_EQ((*store.frame_slots(0, 1))[0], -1);
  EXPECT_EQ(store.used_tokens(0), 11);
  EXPECT_EQ(store.used_tokens(1), 12) << "merging is per block";
  // A third token makes log 3.
  store.merge(0, a, (*store.frame_slots(0, 1))[1], 1.0f, 1.0f);
  EXPECT_NEAR(store.meta(0)[a].log_count, std::log(3.0f), 1e-6f);
}

// Merges reach the rows as one op before the rows are next read or written:
// a re-call of the survivor's frame overwrites the merged row (the merge is
// not applied on top of the new values), and merges queued right before a
// compaction are in the compacted rows.
TEST(KvStore, QueuedMergesApplyBeforeTheNextWriteAndCompaction) {
  KvStore store(small_config(/*sink=*/0), wl::cache::make_policy("full"));
  call(store, 0, 2);
  const int64_t a = (*store.frame_slots(0, 0))[0], b = (*store.frame_slots(0, 1))[0];
  store.merge(0, a, b, 1.0f, 1.0f);
  call(store, 0, 1, true, 0.5f);  // frame 0 again: slot a takes the new values
  for (int e = 0; e < 8; ++e) {
    EXPECT_EQ(store.k_raw(0, a)[e], code(0, 0, 0, e, 0.5f, 0));
    EXPECT_EQ(store.k_rot(0, a)[e], code(0, 0, 0, e, 0.5f, 1));
    EXPECT_EQ(store.v(0, a)[e], code(0, 0, 0, e, 0.5f, 2));
  }

  const int64_t c = (*store.frame_slots(0, 0))[1], d = (*store.frame_slots(0, 1))[1], f = (*store.frame_slots(0, 0))[2];
  std::vector<float> kc(store.k_raw(0, c), store.k_raw(0, c) + 8), kd(store.k_raw(0, d), store.k_raw(0, d) + 8),
      kf(store.k_raw(0, f), store.k_raw(0, f) + 8);
  store.merge(0, c, d, 1.0f, 3.0f);  // c = c/4 + 3d/4
  store.merge(0, f, c, 1.0f, 1.0f);  // then f = f/2 + c/2, with the merged c
  store.set_budget(3 * 6);           // compacts without a read in between
  const int64_t c2 = (*store.frame_slots(0, 0))[1], f2 = (*store.frame_slots(0, 0))[2];
  EXPECT_NEAR(store.meta(0)[f2].log_count, std::log(3.0f), 1e-6f);
  for (int e = 0; e < 8; ++e) {
    const float merged_c = 0.25f * kc[e] + 0.75f * kd[e];
    EXPECT_NEAR(store.k_raw(0, f2)[e], 0.5f * kf[e] + 0.5f * merged_c, 1e-3f);
  }
  EXPECT_EQ(c2, -1) << "c was merged into f";
  // Untouched tokens are copied exactly.
  const int64_t g = (*store.frame_slots(0, 1))[2];
  for (int e = 0; e < 8; ++e) EXPECT_EQ(store.v(0, g)[e], code(0, 1, 2, e, 0.0f, 2));
}

TEST(KvStore, BiasAppearsOnlyOnceSomethingMerged) {
  KvStore store(small_config(/*sink=*/0), wl::cache::make_policy("full"));
  call(store, 0, 2);
  for (const auto& s : store.segments(0)) EXPECT_EQ(s.bias, nullptr);
  const int64_t a = (*store.frame_slots(0, 0))[0], b = (*store.frame_slots(0, 0))[1];
  store.merge(0, a, b, 1.0f, 1.0f);
  const float* base = store.k_rot(0, 0);
  for (int64_t blk = 0; blk < 2; ++blk)
    for (const auto& s : store.segments(blk)) {
      ASSERT_NE(s.bias, nullptr);
      for (int64_t i = 0; i < s.len; ++i) {
        const int64_t slot = (s.k - store.k_rot(blk, 0)) / 8 + i;
        EXPECT_FLOAT_EQ(s.bias[i], store.meta(blk)[slot].log_count);
      }
    }
  for (const auto& s : store.segments(0))
    for (int64_t i = 0; i < s.len; ++i)
      if ((s.k - base) / 8 + i == a) {
        EXPECT_NEAR(s.bias[i], std::log(2.0f), 1e-6f);
      }
  // clear() forgets merges.
  store.clear();
  call(store, 0, 1);
  for (const auto& s : store.segments(0)) EXPECT_EQ(s.bias, nullptr);
}

TEST(KvStore, StatsAfterACacheUpdate) {
  KvStore store(small_config(/*sink=*/1, /*budget_frames=*/4), wl::cache::make_policy("full"));
  for (int64_t f = 0; f < 4; ++f) call(store, f, 1);
  const wl::cache::CacheStats& s0 = store.stats();
  EXPECT_EQ(s0.policy, "full");
  EXPECT_EQ(s0.blocks, 2);
  EXPECT_EQ(s0.budget_tokens, 24);
  EXPECT_EQ(s0.frames, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(s0.bytes_used, 2 * 24 * 8 * 4 * 3);
  EXPECT_EQ(s0.bytes_budget, s0.bytes_used);
  EXPECT_EQ(s0.slot(0, 0).kind, SlotKind::Sink);
  EXPECT_EQ(s0.slot(1, 1).kind, SlotKind::Kept);
  EXPECT_EQ(s0.slot(1, 1).tokens, 6);
  EXPECT_TRUE(s0.token_scores.empty()) << "full has no scores";

  // A noisy call evicts frame 1 but statistics wait for the cache update.
  call(store, 4, 1, /*update=*/false);
  EXPECT_EQ(store.stats().frames, (std::vector<int64_t>{0, 1, 2, 3}));
  // A merge between frames 2 and 3 of block 1, then the clean pass.
  store.merge(1, (*store.frame_slots(1, 2))[0], (*store.frame_slots(1, 3))[0], 1, 1);
  call(store, 4, 1, /*update=*/true);
  const wl::cache::CacheStats& s = store.stats();
  EXPECT_EQ(s.frames, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(s.slot(0, 1).kind, SlotKind::Evicted);
  EXPECT_EQ(s.slot(0, 1).tokens, 0);
  EXPECT_EQ(s.slot(1, 1).kind, SlotKind::Evicted);
  EXPECT_EQ(s.slot(0, 2).kind, SlotKind::Kept);
  EXPECT_EQ(s.slot(1, 2).kind, SlotKind::Merged);
  EXPECT_EQ(s.slot(1, 3).kind, SlotKind::Merged);
  EXPECT_EQ(s.slot(1, 3).tokens, 5);
  EXPECT_EQ(s.slot(0, 4).tokens, 6);
  EXPECT_EQ(s.bytes_used, (24 + 23) * 8 * 4 * 3);
  // The policy ran (an eviction), so its time was measured: steady_clock has
  // nanosecond ticks, a zero here means the timer was not accumulated.
  // (Not a speed assertion: any positive value passes.)
  EXPECT_GT(s.policy_ms, 0.0);
  EXPECT_TRUE(std::isfinite(s.policy_ms));

  // The evicted column is shown once; merges are per chunk.
  call(store, 5, 1);
  EXPECT_EQ(store.stats().frames, (std::vector<int64_t>{0, 2, 3, 4, 5}));
  for (size_t c = 0; c < store.stats().frames.size(); ++c)
    EXPECT_NE(store.stats().slot(1, c).kind, SlotKind::Merged);
}

TEST(KvStore, BeginCallRejectsWhatTheCacheCannotExpress) {
  KvStore store(small_config(/*sink=*/0, /*budget_frames=*/4), wl::cache::make_policy("full"));
  EXPECT_THROW(store.begin_call(0, 5, true), wl::Error) << "a call larger than the budget";
  EXPECT_THROW(store.begin_call(0, 0, true), wl::Error);
  EXPECT_THROW(store.begin_call(-1, 1, true), wl::Error);
  call(store, 0, 2);
  EXPECT_THROW(store.begin_call(3, 1, true), wl::Error) << "a gap after the newest frame";
  EXPECT_NO_THROW(call(store, 2, 1));
  EXPECT_THROW(store.check_layout(2, 2, 4, 2, 4), wl::Error);
  EXPECT_NO_THROW(store.check_layout(2, 2, 4, 2, 3));
  EXPECT_THROW(KvStore(small_config(0, 0), wl::cache::make_policy("full")), wl::Error) << "budget below one frame";
  EXPECT_THROW(wl::cache::make_policy("nope"), wl::Error);
}

}  // namespace

namespace wl::cache {
namespace {

// Live changes: a smaller budget keeps the sink and the newest frames and the
// attention over them is unchanged by the compaction; a new policy takes over.
TEST(KvStoreLive, ShrinkAndGrowBudgetKeepTheRightTokens) {
  KvStoreConfig c;
  c.blocks = 2;
  c.heads = 1;
  c.head_dim = 4;
  c.rows = 1;
  c.cols = 2;
  c.budget_tokens = 16;  // 8 frames
  c.sink_frames = 1;
  KvStore store(c, make_policy("full"));
  std::vector<float> k(2 * 4), v(2 * 4);
  for (int64_t f = 0; f < 8; ++f) {
    store.begin_call(f, 1, true);
    for (int64_t b = 0; b < 2; ++b) {
      for (size_t i = 0; i < k.size(); ++i) k[i] = v[i] = static_cast<float>(100 * b + 10 * f + i);
      store.write_call(b, k.data(), k.data(), v.data(), 2);
    }
    store.end_call();
  }
  // Attention of one query over the last three frames before and after.
  auto attend = [&](int64_t b) {
    Tensor q = Tensor::from_floats({0.1f, -0.2f, 0.3f, 0.05f}, {1, 1, 4});
    Tensor out = Tensor::empty({1, 1, 4});
    std::vector<ops::KVSegment> segs;
    for (int64_t f = 5; f < 8; ++f) {
      auto s = store.frame_segments(b, f, f + 1);
      segs.insert(segs.end(), s.begin(), s.end());
    }
    ops::attention(q, segs, 0.5f, out);
    return out.to_floats();
  };
  const auto before = attend(1);
  store.set_budget(8);  // 4 frames: the sink and the newest three
  EXPECT_EQ(store.frames(), (std::vector<int64_t>{0, 5, 6, 7}));
  EXPECT_EQ(store.used_tokens(0), 8);
  EXPECT_EQ(attend(1), before);
  store.set_policy(make_policy("window"));
  EXPECT_EQ(store.policy().name(), "window");
  store.set_budget(12);
  store.begin_call(8, 1, true);  // fits without evicting now
  EXPECT_EQ(store.frames(), (std::vector<int64_t>{0, 5, 6, 7, 8}));
  EXPECT_THROW(store.set_budget(1), Error);
}

}  // namespace
}  // namespace wl::cache
