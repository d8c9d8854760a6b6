// "future": the future-aware policy (DESIGN 2.5). Keys are kept for the
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
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "cache/kv_store.h"
#include "cache/policy_util.h"

namespace wl::cache {
namespace {

using policy_util::dot;

// Running statistics of one block's pre-RoPE queries.
struct QueryStats {
  int64_t calls = 0;
  std::vector<double> mean;  // [H * d]
  std::vector<double> sq;    // [H * d] mean of squares
};

// The future-query proxy of one block, 1/sqrt(d) folded in.
struct Proxy {
  int64_t heads = 0, d = 0;
  int64_t dt = 0;           // leading floats of a head that rotate with the frame
  int64_t offsets = 0;      // horizon offsets
  std::vector<float> time;  // [offsets][H][dt] time part rotated to newest + D
  std::vector<float> space; // [H][d - dt] height and width part averaged over the grid
  std::vector<float> var;   // [H][d] pair variance / (2d) per float; empty: no variance term
};

// Per used slot of a block: the proxy's view of it.
struct BlockScores {
  std::vector<int64_t> slots;     // [n] the used slots
  std::vector<int32_t> index;     // [slots] position in `slots`, -1 for a free slot
  std::vector<float> attention;   // [n] proxy attention share (mean over heads and offsets)
  std::vector<float> score;       // [n] attention, weighted by |v| when asked
  std::vector<float> logit;       // [H][n] expected logit, mean over offsets, no bias or variance
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

Proxy make_proxy(const QueryStats& st, const KvStoreConfig& cfg, int64_t newest_frame, const PolicyOptions& opt) {
  Proxy p;
  const int64_t H = cfg.heads, d = cfg.head_dim, c = d / 2;
  const int64_t ch = c / 3, cw = c / 3, ct = c - 2 * (c / 3);
  p.heads = H;
  p.d = d;
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

// The proxy's attention shares and expected logits of every used slot.
BlockScores compute_scores(const KvStore& store, int64_t block, const Proxy& p, bool weight_by_value_norm) {
  BlockScores out;
  const std::vector<TokenMeta>& meta = store.meta(block);
  out.index.assign(static_cast<size_t>(store.slots()), -1);
  for (int64_t s = 0; s < store.slots(); ++s)
    if (meta[s].used()) {
      out.index[s] = static_cast<int32_t>(out.slots.size());
      out.slots.push_back(s);
    }
  const int64_t n = static_cast<int64_t>(out.slots.size()), H = p.heads, d = p.d, dt = p.dt;
  out.logit.assign(static_cast<size_t>(H * n), 0.0f);
  std::vector<float> att_h(static_cast<size_t>(H * n), 0.0f), score_h(static_cast<size_t>(H * n), 0.0f);
  if (n == 0) return out;

  // Heads are independent: split them over threads when the block is big.
#pragma omp parallel for schedule(static) if (n * H * d >= (1 << 20))
  for (int64_t h = 0; h < H; ++h) {
    std::vector<float> base(static_cast<size_t>(n)), tdot(static_cast<size_t>(p.offsets * n)), l(static_cast<size_t>(n));
    std::vector<float> vw(static_cast<size_t>(n), 1.0f);
    float* logit = &out.logit[h * n];
    const float* space = &p.space[h * (d - dt)];
    for (int64_t j = 0; j < n; ++j) {
      const int64_t s = out.slots[j];
      const float* k = store.k_rot(block, s) + h * d;
      const float space_logit = dot(space, k + dt, d - dt);
      float var_term = 0;
      if (!p.var.empty()) {
        const float* w = &p.var[h * d];
#pragma omp simd reduction(+ : var_term)
        for (int64_t i = 0; i < d; ++i) var_term += w[i] * k[i] * k[i];
      }
      float time_mean = 0;
      for (int64_t o = 0; o < p.offsets; ++o) {
        const float t = dot(&p.time[(o * H + h) * dt], k, dt);
        tdot[o * n + j] = t;
        time_mean += t;
      }
      logit[j] = space_logit + time_mean / static_cast<float>(p.offsets);
      base[j] = space_logit + var_term + meta[s].log_count;
      if (weight_by_value_norm) {
        const float* v = store.v(block, s) + h * d;
        vw[j] = std::sqrt(dot(v, v, d));
      }
    }
    if (weight_by_value_norm) {
      const float mean = std::accumulate(vw.begin(), vw.end(), 0.0f) / static_cast<float>(n);
      const float inv = mean > 0 ? 1.0f / mean : 0.0f;
      for (float& w : vw) w *= inv;
    }
    float* att = &att_h[h * n];
    float* sc = &score_h[h * n];
    for (int64_t o = 0; o < p.offsets; ++o) {
      for (int64_t j = 0; j < n; ++j) l[j] = base[j] + tdot[o * n + j];
      policy_util::softmax_in_place(l);
      for (int64_t j = 0; j < n; ++j) {
        att[j] += l[j];
        sc[j] += l[j] * vw[j];
      }
    }
  }
  out.attention.assign(static_cast<size_t>(n), 0.0f);
  out.score.assign(static_cast<size_t>(n), 0.0f);
  const float unit = 1.0f / static_cast<float>(H * p.offsets);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t j = 0; j < n; ++j) {
      out.attention[j] += att_h[h * n + j] * unit;
      out.score[j] += score_h[h * n + j] * unit;
    }
  return out;
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
    // This call's mean and mean square, then the running update.
    std::vector<double> m(static_cast<size_t>(row), 0.0), m2(static_cast<size_t>(row), 0.0);
    for (int64_t t = 0; t < tokens; ++t) {
      const float* q = q_raw + t * row;
      for (int64_t i = 0; i < row; ++i) {
        m[i] += q[i];
        m2[i] += static_cast<double>(q[i]) * q[i];
      }
    }
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

    BlockScores scores;
    const bool informed = has_stats(req.block);
    if (informed) {
      const Proxy proxy = make_proxy(stats_[req.block], store.config(), store.newest_frame(), options_);
      scores = compute_scores(store, req.block, proxy, options_.weight_by_value_norm);
    }

    int64_t freed = 0;
    if (informed && options_.merge) freed = merge_pairs(store, req, scores, mergeable);

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
    const Proxy proxy = make_proxy(stats_[block], store.config(), store.newest_frame(), options_);
    const BlockScores scores = compute_scores(store, block, proxy, options_.weight_by_value_norm);
    for (size_t j = 0; j < scores.slots.size(); ++j)
      if (scores.slots[j] < static_cast<int64_t>(out.size())) out[scores.slots[j]] = scores.score[j];
    return true;
  }

  void reset() override { stats_.clear(); }

 private:
  bool has_stats(int64_t block) const {
    return block < static_cast<int64_t>(stats_.size()) && stats_[block].calls > 0;
  }

  // Merges redundant neighbour pairs, cheapest first, until `req.need` slots
  // are free or no candidate is left. Returns the slots freed; keeps `scores`
  // up to date for the survivors.
  template <typename Mergeable>
  int64_t merge_pairs(KvStore& store, const RoomRequest& req, BlockScores& scores, const Mergeable& mergeable) {
    const KvStoreConfig& cfg = store.config();
    const int64_t b = req.block, H = cfg.heads, row = cfg.row_floats(), rows = cfg.rows, cols = cfg.cols;
    const int64_t n = static_cast<int64_t>(scores.slots.size());
    const float threshold = options_.merge_threshold;

    struct Pair {
      float cost;
      int64_t a, b;
    };
    std::vector<Pair> pairs;
    auto consider = [&](int64_t a, int64_t c) {
      if (!mergeable(c)) return;
      const int64_t ja = scores.index[a], jc = scores.index[c];
      float cost = 0;
      for (int64_t h = 0; h < H && cost < threshold; ++h)
        cost = std::max(cost, std::fabs(scores.logit[h * n + ja] - scores.logit[h * n + jc]));
      if (cost >= threshold) return;
      const float* va = store.v(b, a);
      const float* vc = store.v(b, c);
      const float na = dot(va, va, row), nc = dot(vc, vc, row);
      const float cosine = na > 0 && nc > 0 ? dot(va, vc, row) / std::sqrt(na * nc) : (na == nc ? 1.0f : 0.0f);
      if (cosine > options_.merge_value_cosine) pairs.push_back({cost, a, c});
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
      store.merge(b, into, from, scores.attention[ji], scores.attention[jf]);
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
