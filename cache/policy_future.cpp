// "future": the future-aware policy (docs/model.md §5). Keys are kept for the
// attention that *future* queries are expected to pay them, predicted from
// the statistics of past queries before RoPE (nearly stationary over a
// generation), not for the attention they received in the past.
//
// 1. Statistics. Per block and head, a running mean mu and a diagonal second
//    moment of the pre-RoPE queries of the clean cache-update passes (the
//    noisy passes' queries depend on the noise level). The running mean
//    weighs a call max(1/n, 1/stats_memory), so it settles like a plain mean
//    and then follows slow drift (a prompt switch) over ~stats_memory chunks.
//
// 2. The proxy. A future query at frame F = newest + D, row r, column c is
//    R(F, r, c) q with q ~ N(mu, Sigma). Its logit with cached key j is
//    (R(F, r, c) q) . k_rot_j: k_rot_j already carries the key's own
//    rotation, so only the query side is rotated. RoPE rotates complex pairs
//    independently (time pairs by F, height pairs by r, width pairs by c), so
//    the logit averaged over the frame's token grid is the dot product with
//    mu whose height and width pairs are multiplied by the grid-averaged
//    rotation mean_r e^{i r w} (resp. columns). Spatial positions are thus
//    averaged at the logit level (exact for the mean logit, one vector per
//    head); the time pairs are rotated to each horizon offset D exactly.
//    Horizon offsets are averaged at the attention level: a key's share is
//    the mean over D of its softmax share.
//    Variance: Sigma is taken isotropic within each complex pair (the mean of
//    the pair's two variances), which makes it rotation invariant, so the
//    second-order term k^T Sigma_D k / (2d) = sum_p s_p |k_p|^2 / (2d) needs no
//    rotation and is the same for every D.
//
// 3. Scores. Expected logit_hj(D) = mu_D,h . k_hj / sqrt(d) + variance term +
//    the slot's log-count bias; softmax over the block's cached keys per head
//    and offset; the share averaged over heads and offsets is the key's proxy
//    attention. With weight_by_value_norm it is weighted by |v_hj| relative to
//    the head's mean |v| (what a key adds to the output scales with its value).
//
// 4. Making room. First merge redundant pairs: local neighbours only (right
//    and lower neighbour in the same frame, the same (row, col) in the
//    previous frame) whose horizon-averaged expected logits differ by less
//    than merge_threshold in every head and whose values have cosine >
//    merge_value_cosine. Pairs merge cheapest first (each slot once per
//    round) with weights from their proxy attention; the store's log-count
//    bias lets the merged token keep both tokens' attention mass. Then the
//    lowest-scoring tokens are evicted. Sink frames and the current call are
//    never touched; the `recent_frames` frames before the call are neither
//    merged nor evicted while anything older can go.
//
// Cost per block: O(tokens * heads * head_dim * (1 + |horizon| * time share))
// for the scores, O(tokens * heads * head_dim) for the merge candidates; no
// token-pair term. Before any clean pass has been observed there are no
// statistics and the policy evicts the oldest unprotected tokens.
//
// The statistics, the proxy and every decision are computed here on the
// host; what reads keys, values or queries (query sums, steps 3 and the
// pairs' logit gaps and value cosines) runs on the store's backend
// (KvStore::query_sums, KvStore::expected_attention).
#include <algorithm>
#include <cmath>
#include <vector>

#include "cache/kv_store.h"
#include "runtime/core/state_file.h"
#include "cache/policy_util.h"

namespace wl::cache {
namespace {

// Running statistics of one block's pre-RoPE queries.
struct QueryStats {
  int64_t calls = 0;
  std::vector<double> mean;  // [H * d]
  std::vector<double> sq;    // [H * d] mean of squares
};

// Grid-averaged rotation of one RoPE part: mean over pos in [0, count) of
// e^{i pos w_k}, w_k = 10000^(-k / n), k < n; cos and sin parts.
void mean_rotation(int64_t count, int64_t n, std::vector<double>& c, std::vector<double>& s) {
  c.assign(static_cast<size_t>(n), 0.0);
  s.assign(static_cast<size_t>(n), 0.0);
  for (int64_t k = 0; k < n; ++k) {
    const double w = std::pow(10000.0, -static_cast<double>(k) / static_cast<double>(n));
    for (int64_t p = 0; p < count; ++p) {
      c[k] += std::cos(static_cast<double>(p) * w);
      s[k] += std::sin(static_cast<double>(p) * w);
    }
    c[k] /= static_cast<double>(count);
    s[k] /= static_cast<double>(count);
  }
}

// The future-query proxy of one block, 1/sqrt(d) folded in.
ExpectedQuery make_proxy(const QueryStats& st, const KvStoreConfig& cfg, int64_t newest_frame, const PolicyOptions& opt) {
  ExpectedQuery p;
  const int64_t H = cfg.heads, d = cfg.head_dim, c = d / 2;
  const int64_t ch = c / 3, cw = c / 3, ct = c - 2 * (c / 3);
  p.dt = 2 * ct;
  std::vector<int64_t> horizon = opt.horizon;
  if (horizon.empty()) horizon = {1};
  p.offsets = static_cast<int64_t>(horizon.size());
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));

  // Time part: mu's time pairs rotated to frame newest + D.
  p.time.assign(static_cast<size_t>(p.offsets * H * p.dt), 0.0f);
  for (int64_t o = 0; o < p.offsets; ++o) {
    const double frame = static_cast<double>(std::max<int64_t>(newest_frame, 0) + horizon[o]);
    for (int64_t k = 0; k < ct; ++k) {
      const double a = frame * std::pow(10000.0, -static_cast<double>(k) / static_cast<double>(ct));
      const double cs = std::cos(a), sn = std::sin(a);
      for (int64_t h = 0; h < H; ++h) {
        const double x = st.mean[h * d + 2 * k], y = st.mean[h * d + 2 * k + 1];
        float* out = &p.time[(o * H + h) * p.dt + 2 * k];
        out[0] = static_cast<float>((x * cs - y * sn) * scale);
        out[1] = static_cast<float>((x * sn + y * cs) * scale);
      }
    }
  }

  // Height and width parts: mu's pairs times the grid-averaged rotation.
  std::vector<double> hc, hs, wc, ws;
  mean_rotation(cfg.rows, ch, hc, hs);
  mean_rotation(cfg.cols, cw, wc, ws);
  const int64_t ds = d - p.dt;
  p.space.assign(static_cast<size_t>(H * ds), 0.0f);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t k = 0; k < ch + cw; ++k) {
      const double cs = k < ch ? hc[k] : wc[k - ch], sn = k < ch ? hs[k] : ws[k - ch];
      const double x = st.mean[h * d + p.dt + 2 * k], y = st.mean[h * d + p.dt + 2 * k + 1];
      p.space[h * ds + 2 * k] = static_cast<float>((x * cs - y * sn) * scale);
      p.space[h * ds + 2 * k + 1] = static_cast<float>((x * sn + y * cs) * scale);
    }
  }

  if (opt.variance_term) {
    p.var.assign(static_cast<size_t>(H * d), 0.0f);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t k = 0; k < c; ++k) {
        const int64_t i = h * d + 2 * k;
        const double v0 = std::max(0.0, st.sq[i] - st.mean[i] * st.mean[i]);
        const double v1 = std::max(0.0, st.sq[i + 1] - st.mean[i + 1] * st.mean[i + 1]);
        const float s = static_cast<float>(0.5 * (v0 + v1) / (2.0 * static_cast<double>(d)));
        p.var[i] = s;
        p.var[i + 1] = s;
      }
  }
  return p;
}

class FuturePolicy : public CachePolicy {
 public:
  explicit FuturePolicy(const PolicyOptions& options) : options_(options) {}

  std::string name() const override { return "future"; }

  void observe(KvStore& store, int64_t block, const float* q_raw, const float* /*q_rot*/, int64_t tokens,
               int64_t /*frame0*/, bool cache_update) override {
    if (!cache_update || tokens <= 0) return;
    const int64_t row = store.config().row_floats();
    if (stats_.size() != static_cast<size_t>(store.config().blocks)) stats_.assign(store.config().blocks, {});
    QueryStats& st = stats_[block];
    if (st.mean.empty()) {
      st.mean.assign(static_cast<size_t>(row), 0.0);
      st.sq.assign(static_cast<size_t>(row), 0.0);
    }
    // This call's sums of q and q^2 (on the store's backend), then the running update.
    std::vector<double> m, m2;
    store.query_sums(q_raw, tokens, m, m2);
    ++st.calls;
    const double w = std::max(1.0 / static_cast<double>(st.calls),
                              1.0 / static_cast<double>(std::max<int64_t>(options_.stats_memory, 1)));
    const double inv_t = 1.0 / static_cast<double>(tokens);
    for (int64_t i = 0; i < row; ++i) {
      st.mean[i] += w * (m[i] * inv_t - st.mean[i]);
      st.sq[i] += w * (m2[i] * inv_t - st.sq[i]);
    }
  }

  void make_room(KvStore& store, const RoomRequest& req) override {
    const std::vector<TokenMeta>& meta = store.meta(req.block);
    const int64_t recent_from = req.protect_from - options_.recent_frames;
    auto mergeable = [&](int64_t s) {
      return s >= 0 && meta[s].used() && !KvStore::is_protected(meta[s], req) && meta[s].frame < recent_from;
    };

    ExpectedAttention scores;
    const bool informed = has_stats(req.block);
    const bool merging = informed && options_.merge;
    const std::vector<SlotPair> pairs = merging ? neighbour_pairs(store, req.block, mergeable) : std::vector<SlotPair>{};
    if (informed) {
      const ExpectedQuery proxy = make_proxy(stats_[req.block], store.config(), store.newest_frame(), options_);
      scores = store.expected_attention(req.block, proxy, options_.weight_by_value_norm, pairs, options_.merge_threshold);
    }

    int64_t freed = 0;
    if (merging) freed = merge_pairs(store, req, scores, pairs);

    std::vector<policy_util::EvictionCandidate> candidates;
    for (int64_t s = 0; s < store.slots(); ++s) {
      const TokenMeta& m = meta[s];
      if (!m.used() || KvStore::is_protected(m, req)) continue;
      const float sc = informed ? scores.score[scores.index[s]] : 0.0f;
      candidates.push_back({s, m.frame >= recent_from ? 1 : 0, sc});
    }
    policy_util::evict_lowest(store, req.block, candidates, req.need - freed);
  }

  bool score(const KvStore& store, int64_t block, std::vector<float>& out) const override {
    if (!has_stats(block)) return false;
    const ExpectedQuery proxy = make_proxy(stats_[block], store.config(), store.newest_frame(), options_);
    const ExpectedAttention scores = store.expected_attention(block, proxy, options_.weight_by_value_norm);
    for (size_t j = 0; j < scores.slots.size(); ++j)
      if (scores.slots[j] < static_cast<int64_t>(out.size())) out[scores.slots[j]] = scores.score[j];
    return true;
  }

  void reset() override { stats_.clear(); }

  // Per block: the number of observed calls and the running moments.
  void save_state(StateWriter& out, const std::string& prefix) const override {
    std::vector<int64_t> calls;
    for (size_t b = 0; b < stats_.size(); ++b) {
      calls.push_back(stats_[b].calls);
      out.f64(prefix + ".b" + std::to_string(b) + ".mean", stats_[b].mean);  // [H * d] or empty
      out.f64(prefix + ".b" + std::to_string(b) + ".sq", stats_[b].sq);      // [H * d] or empty
    }
    out.i64(prefix + ".calls", calls);  // [blocks] or empty (nothing observed yet)
  }
  void load_state(const StateReader& in, const std::string& prefix, const KvStore& store) override {
    const std::vector<int64_t> calls = in.i64(prefix + ".calls");
    const int64_t blocks = store.config().blocks, row = store.config().row_floats();
    if (!calls.empty() && static_cast<int64_t>(calls.size()) != blocks)
      in.fail("the future policy's statistics are for " + std::to_string(calls.size()) + " blocks, not " +
              std::to_string(blocks));
    stats_.assign(calls.size(), {});
    for (size_t b = 0; b < calls.size(); ++b) {
      QueryStats& st = stats_[b];
      st.calls = calls[b];
      st.mean = in.f64(prefix + ".b" + std::to_string(b) + ".mean");
      st.sq = in.f64(prefix + ".b" + std::to_string(b) + ".sq");
      const bool empty = st.mean.empty() && st.sq.empty();
      if (st.calls < 0 || (empty ? st.calls != 0 : (static_cast<int64_t>(st.mean.size()) != row ||
                                                     static_cast<int64_t>(st.sq.size()) != row)))
        in.fail("the future policy's statistics of block " + std::to_string(b) + " do not fit " +
                std::to_string(row) + " query floats");
    }
  }

 private:
  bool has_stats(int64_t block) const {
    return block < static_cast<int64_t>(stats_.size()) && stats_[block].calls > 0;
  }

  // Local neighbours that may merge: each mergeable token with its right
  // and lower neighbour in its frame and the same position in the previous frame.
  template <typename Mergeable>
  static std::vector<SlotPair> neighbour_pairs(const KvStore& store, int64_t b, const Mergeable& mergeable) {
    const int64_t rows = store.config().rows, cols = store.config().cols;
    std::vector<SlotPair> pairs;
    auto consider = [&](int64_t a, int64_t c) {
      if (mergeable(c)) pairs.push_back({static_cast<int32_t>(a), static_cast<int32_t>(c)});
    };
    for (int64_t f : store.frames()) {
      const std::vector<int32_t>* here = store.frame_slots(b, f);
      if (!here) continue;
      const std::vector<int32_t>* prev = store.frame_slots(b, f - 1);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t s = (*here)[r * cols + c];
          if (!mergeable(s)) continue;
          if (c + 1 < cols) consider(s, (*here)[r * cols + c + 1]);
          if (r + 1 < rows) consider(s, (*here)[(r + 1) * cols + c]);
          if (prev) consider(s, (*prev)[r * cols + c]);
        }
    }
    return pairs;
  }

  // Merges the redundant ones of `candidates` (their costs and value cosines
  // are in `scores`), cheapest first, until `req.need` slots are free or no
  // pair is left. Returns the slots freed; keeps `scores` up to date for the
  // survivors.
  int64_t merge_pairs(KvStore& store, const RoomRequest& req, ExpectedAttention& scores,
                      const std::vector<SlotPair>& candidates) {
    struct Pair {
      float cost;
      int64_t a, b;
    };
    std::vector<Pair> pairs;
    for (size_t i = 0; i < candidates.size(); ++i)
      if (scores.pair_cost[i] < options_.merge_threshold && scores.pair_cosine[i] > options_.merge_value_cosine)
        pairs.push_back({scores.pair_cost[i], candidates[i].a, candidates[i].b});
    std::sort(pairs.begin(), pairs.end(), [](const Pair& x, const Pair& y) { return x.cost < y.cost; });

    // Each slot merges at most once per round: a merged token's key moved,
    // so its cost against other neighbours is stale.
    std::vector<uint8_t> touched(static_cast<size_t>(store.slots()), 0);
    int64_t freed = 0;
    for (const Pair& pr : pairs) {
      if (freed >= req.need) break;
      if (touched[pr.a] || touched[pr.b]) continue;
      const int64_t ja = scores.index[pr.a], jb = scores.index[pr.b];
      // The better-attended token keeps its place (position and frame).
      const bool a_into = scores.attention[ja] >= scores.attention[jb];
      const int64_t into = a_into ? pr.a : pr.b, from = a_into ? pr.b : pr.a;
      const int64_t ji = a_into ? ja : jb, jf = a_into ? jb : ja;
      store.merge(req.block, into, from, scores.attention[ji], scores.attention[jf]);
      scores.attention[ji] += scores.attention[jf];
      scores.score[ji] += scores.score[jf];
      touched[pr.a] = touched[pr.b] = 1;
      ++freed;
    }
    return freed;
  }

  PolicyOptions options_;
  std::vector<QueryStats> stats_;  // [blocks]
};

}  // namespace

std::unique_ptr<CachePolicy> make_future_policy(const PolicyOptions& options) {
  return std::make_unique<FuturePolicy>(options);
}

}  // namespace wl::cache
