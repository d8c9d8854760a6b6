// KvRows in host memory: plain arrays, row copies with memcpy, and the
// policies' computations as loops (the reference arithmetic the CUDA rows
// follow; threaded over heads when a block is big).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "cache/kv_rows.h"
#include "cache/kv_store.h"
#include "cache/policy_util.h"

namespace wl::cache {
namespace {

using policy_util::dot;

class CpuKvRows : public KvRows {
 public:
  explicit CpuKvRows(const KvStoreConfig& c)
      : blocks_(c.blocks), slots_(c.budget_tokens), heads_(c.heads), head_dim_(c.head_dim), row_(c.row_floats()) {
    const size_t n = static_cast<size_t>(blocks_ * slots_ * row_);
    for (auto* a : {&k_raw_, &k_rot_, &v_}) a->assign(n, 0.0f);
  }

  Backend backend() const override { return Backend::CPU; }

  float* rows(RowKind kind, int64_t block) override { return array(kind).data() + block * slots_ * row_; }

  void set_call_slots(const std::vector<std::vector<int32_t>>& call_slots) override { call_slots_ = call_slots; }

  void write(int64_t b, const float* k_raw, const float* k_rot, const float* v, int64_t n) override {
    const size_t bytes = static_cast<size_t>(row_) * sizeof(float);
    const std::vector<int32_t>& slots = call_slots_[b];
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(row(k_raw_, b, slots[i]), k_raw + i * row_, bytes);
      std::memcpy(row(k_rot_, b, slots[i]), k_rot + i * row_, bytes);
      std::memcpy(row(v_, b, slots[i]), v + i * row_, bytes);
    }
  }

  void merge(int64_t b, int64_t into, int64_t from, float wa, float wc) override {
    for (auto* store : {&k_raw_, &k_rot_, &v_}) {
      float* pa = row(*store, b, into);
      const float* pc = row(*store, b, from);
      for (int64_t i = 0; i < row_; ++i) pa[i] = wa * pa[i] + wc * pc[i];
    }
  }

  void compact(int64_t slots, const std::vector<std::vector<int32_t>>& keep) override {
    const size_t n = static_cast<size_t>(blocks_ * slots * row_);
    for (auto* store : {&k_raw_, &k_rot_, &v_}) {
      std::vector<float> next(n, 0.0f);
      for (int64_t b = 0; b < blocks_; ++b)
        for (int64_t s = 0; s < slots; ++s) {
          const int32_t old = keep[b][s];
          if (old < 0) continue;
          const float* from = row(*store, b, old);
          std::copy(from, from + row_, next.begin() + (b * slots + s) * row_);
        }
      *store = std::move(next);
    }
    slots_ = slots;
  }

  void gather(int64_t b, RowKind kind, const std::vector<int32_t>& slots, float* out) override {
    for (size_t i = 0; i < slots.size(); ++i)
      std::memcpy(out + i * row_, row(array(kind), b, slots[i]), static_cast<size_t>(row_) * sizeof(float));
  }

  // The store's own host array is the bias attention reads.
  const float* bias(int64_t, const std::vector<float>& host) override { return host.data(); }

  std::vector<float> attention_mass(int64_t block, const std::vector<int32_t>& slots, const float* bias_of_slot,
                                    const float* q_rot, int64_t tokens, int64_t nq, float scale) override {
    const int64_t H = heads_, d = head_dim_, n = static_cast<int64_t>(slots.size());
    std::vector<float> bias(static_cast<size_t>(n), 0.0f);
    if (bias_of_slot)
      for (int64_t j = 0; j < n; ++j) bias[j] = bias_of_slot[slots[j]];
    std::vector<float> received(static_cast<size_t>(H * n), 0.0f);  // [H][n]
    // Heads are independent; within a head, queries go in tiles so that each
    // key row is loaded once per tile rather than once per query.
#pragma omp parallel for schedule(static) if (nq * n * H * d >= (1 << 22))
    for (int64_t h = 0; h < H; ++h) {
      constexpr int64_t kTile = 16;
      std::vector<float> q(static_cast<size_t>(kTile * d)), logits(static_cast<size_t>(kTile * n)), p;
      for (int64_t q0 = 0; q0 < nq; q0 += kTile) {
        const int64_t nt = std::min(kTile, nq - q0);
        for (int64_t i = 0; i < nt; ++i) {
          const int64_t t = ((2 * (q0 + i) + 1) * tokens) / (2 * nq);  // centre of the i-th stretch
          std::copy_n(q_rot + (t * H + h) * d, d, q.begin() + i * d);
        }
        for (int64_t j = 0; j < n; ++j) {
          const float* k = row(k_rot_, block, slots[j]) + h * d;
          for (int64_t i = 0; i < nt; ++i) logits[i * n + j] = dot(&q[i * d], k, d) * scale + bias[j];
        }
        for (int64_t i = 0; i < nt; ++i) {
          p.assign(logits.begin() + i * n, logits.begin() + (i + 1) * n);
          policy_util::softmax_in_place(p);
          for (int64_t j = 0; j < n; ++j) received[h * n + j] += p[j];
        }
      }
    }
    for (int64_t h = 1; h < H; ++h)
      for (int64_t j = 0; j < n; ++j) received[j] += received[h * n + j];
    received.resize(static_cast<size_t>(n));
    return received;
  }

  void query_sums(const float* q_raw, int64_t tokens, std::vector<double>& m, std::vector<double>& m2) override {
    m.assign(static_cast<size_t>(row_), 0.0);
    m2.assign(static_cast<size_t>(row_), 0.0);
    for (int64_t t = 0; t < tokens; ++t) {
      const float* q = q_raw + t * row_;
      for (int64_t i = 0; i < row_; ++i) {
        m[i] += q[i];
        m2[i] += static_cast<double>(q[i]) * q[i];
      }
    }
  }

  void expected_attention(int64_t block, const std::vector<int64_t>& slots, const std::vector<float>& log_count,
                          const ExpectedQuery& p, bool weight_by_value_norm, const std::vector<SlotPair>& pairs,
                          float cost_limit, ExpectedAttention& out) override {
    const int64_t n = static_cast<int64_t>(slots.size()), H = heads_, d = head_dim_, dt = p.dt;
    std::vector<float> logit(static_cast<size_t>(H * n), 0.0f);  // [H][n] mean over offsets, no bias or variance
    std::vector<float> att_h(static_cast<size_t>(H * n), 0.0f), score_h(static_cast<size_t>(H * n), 0.0f);
    if (n == 0) return;

    // Heads are independent: split them over threads when the block is big.
#pragma omp parallel for schedule(static) if (n * H * d >= (1 << 20))
    for (int64_t h = 0; h < H; ++h) {
      std::vector<float> base(static_cast<size_t>(n)), tdot(static_cast<size_t>(p.offsets * n)), l(static_cast<size_t>(n));
      std::vector<float> vw(static_cast<size_t>(n), 1.0f);
      float* lg = &logit[h * n];
      const float* space = &p.space[h * (d - dt)];
      for (int64_t j = 0; j < n; ++j) {
        const int64_t s = slots[j];
        const float* k = row(k_rot_, block, s) + h * d;
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
        lg[j] = space_logit + time_mean / static_cast<float>(p.offsets);
        base[j] = space_logit + var_term + log_count[j];
        if (weight_by_value_norm) {
          const float* v = row(v_, block, s) + h * d;
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

    out.pair_cost.assign(pairs.size(), 0.0f);
    out.pair_cosine.assign(pairs.size(), NAN);
    for (size_t i = 0; i < pairs.size(); ++i) {
      const int64_t ja = pairs[i].a, jc = pairs[i].b;
      float cost = 0;
      for (int64_t h = 0; h < H && cost < cost_limit; ++h)
        cost = std::max(cost, std::fabs(logit[h * n + ja] - logit[h * n + jc]));
      out.pair_cost[i] = cost;
      if (cost >= cost_limit) continue;
      const float* va = row(v_, block, slots[ja]);
      const float* vc = row(v_, block, slots[jc]);
      const float na = dot(va, va, row_), nc = dot(vc, vc, row_);
      out.pair_cosine[i] = na > 0 && nc > 0 ? dot(va, vc, row_) / std::sqrt(na * nc) : (na == nc ? 1.0f : 0.0f);
    }
  }

 private:
  std::vector<float>& array(RowKind kind) { return kind == RowKind::KRaw ? k_raw_ : kind == RowKind::KRot ? k_rot_ : v_; }
  float* row(std::vector<float>& a, int64_t block, int64_t slot) { return a.data() + (block * slots_ + slot) * row_; }

  int64_t blocks_, slots_, heads_, head_dim_, row_;
  std::vector<float> k_raw_, k_rot_, v_;  // [blocks, slots, heads, head_dim]
  std::vector<std::vector<int32_t>> call_slots_;
};

}  // namespace

std::unique_ptr<KvRows> make_cpu_kv_rows(const KvStoreConfig& config) { return std::make_unique<CpuKvRows>(config); }

}  // namespace wl::cache
