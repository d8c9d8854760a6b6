// The KV cache's ops on the CPU: row copies with memcpy, merges in order,
// and the cache policies' scores as plain loops, threaded over heads when a
// block is big. This is the cache's reference arithmetic: the CUDA twins
// (runtime/cuda/kv_rows.cu) follow it, and the cache tests and golden
// replays depend on these exact numbers, so keep the order of operations.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "runtime/cpu/ops_cpu.h"

namespace wl::cpu {

namespace {

// Floats in one row of a table [R, ...].
int64_t row_size(const Tensor& t) {
  int64_t n = 1;
  for (int i = 1; i < t.rank(); ++i) n *= t.dim(i);
  return n;
}

float dot(const float* a, const float* b, int64_t n) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Logits to probabilities in place (max-subtracted); nothing for an empty row.
void softmax_in_place(std::vector<float>& x) {
  if (x.empty()) return;
  const float mx = *std::max_element(x.begin(), x.end());
  float sum = 0;
  for (float& v : x) {
    v = std::exp(v - mx);
    sum += v;
  }
  const float inv = 1.0f / sum;
  for (float& v : x) v *= inv;
}

}  // namespace

// ---- rows --------------------------------------------------------------------------

void set_rows(Tensor& table, const std::vector<int32_t>& index, const Tensor& rows) {
  const int64_t row = row_size(table);
  const size_t bytes = static_cast<size_t>(row) * sizeof(float);
  float* dst = table.f32();
  const float* src = rows.f32();
  for (size_t i = 0; i < index.size(); ++i)
    std::memcpy(dst + static_cast<int64_t>(index[i]) * row, src + static_cast<int64_t>(i) * row, bytes);
}

void get_rows(const Tensor& table, const std::vector<int32_t>& index, Tensor& out) {
  const int64_t row = row_size(table);
  const size_t bytes = static_cast<size_t>(row) * sizeof(float);
  const float* src = table.f32();
  float* dst = out.f32();
  for (size_t i = 0; i < index.size(); ++i) {
    float* to = dst + static_cast<int64_t>(i) * row;
    if (index[i] < 0) std::memset(to, 0, bytes);
    else std::memcpy(to, src + static_cast<int64_t>(index[i]) * row, bytes);
  }
}

void merge_rows(Tensor& table, const std::vector<ops::RowMerge>& merges) {
  const int64_t row = row_size(table);
  float* base = table.f32();
  for (const ops::RowMerge& m : merges) {
    float* pa = base + static_cast<int64_t>(m.into) * row;
    const float* pc = base + static_cast<int64_t>(m.from) * row;
    const float wa = m.w_into, wc = m.w_from;
    for (int64_t i = 0; i < row; ++i) pa[i] = wa * pa[i] + wc * pc[i];
  }
}

// ---- scores over cached keys -------------------------------------------------------

std::vector<float> attention_mass(const Tensor& q_t, const Tensor& keys, const std::vector<int32_t>& rows,
                                  const Tensor& bias_t, int64_t nq, float scale) {
  const int64_t tokens = q_t.dim(0), H = keys.dim(1), d = keys.dim(2), row = H * d;
  const int64_t n = static_cast<int64_t>(rows.size());
  const float* q_rot = q_t.f32();
  const float* k_rot = keys.f32();
  std::vector<float> bias(static_cast<size_t>(n), 0.0f);
  if (bias_t.defined())
    for (int64_t j = 0; j < n; ++j) bias[j] = bias_t.f32()[rows[j]];
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
        const float* k = k_rot + static_cast<int64_t>(rows[j]) * row + h * d;
        for (int64_t i = 0; i < nt; ++i) logits[i * n + j] = dot(&q[i * d], k, d) * scale + bias[j];
      }
      for (int64_t i = 0; i < nt; ++i) {
        p.assign(logits.begin() + i * n, logits.begin() + (i + 1) * n);
        softmax_in_place(p);
        for (int64_t j = 0; j < n; ++j) received[h * n + j] += p[j];
      }
    }
  }
  for (int64_t h = 1; h < H; ++h)
    for (int64_t j = 0; j < n; ++j) received[j] += received[h * n + j];
  received.resize(static_cast<size_t>(n));
  return received;
}

void query_sums(const Tensor& x, std::vector<double>& m, std::vector<double>& m2) {
  const int64_t tokens = x.dim(0), row = row_size(x);
  const float* q_raw = x.f32();
  m.assign(static_cast<size_t>(row), 0.0);
  m2.assign(static_cast<size_t>(row), 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    const float* q = q_raw + t * row;
    for (int64_t i = 0; i < row; ++i) {
      m[i] += q[i];
      m2[i] += static_cast<double>(q[i]) * q[i];
    }
  }
}

ops::ExpectedScores expected_attention(const Tensor& keys, const Tensor& values, const std::vector<int32_t>& slots,
                                       const std::vector<float>& log_count, const ops::ExpectedQuery& p,
                                       bool weight_by_value_norm, const std::vector<ops::RowPair>& pairs,
                                       float cost_limit) {
  ops::ExpectedScores out;
  const int64_t n = static_cast<int64_t>(slots.size()), H = keys.dim(1), d = keys.dim(2), dt = p.dt;
  const int64_t row_ = H * d;
  if (n == 0) return out;
  const float* k_rot = keys.f32();
  const float* v_rows = values.f32();
  auto key_row = [&](int64_t j) { return k_rot + static_cast<int64_t>(slots[j]) * row_; };
  auto value_row = [&](int64_t j) { return v_rows + static_cast<int64_t>(slots[j]) * row_; };
  std::vector<float> logit(static_cast<size_t>(H * n), 0.0f);  // [H][n] mean over offsets, no bias or variance
  std::vector<float> att_h(static_cast<size_t>(H * n), 0.0f), score_h(static_cast<size_t>(H * n), 0.0f);

  // Heads are independent: split them over threads when the block is big.
#pragma omp parallel for schedule(static) if (n * H * d >= (1 << 20))
  for (int64_t h = 0; h < H; ++h) {
    std::vector<float> base(static_cast<size_t>(n)), tdot(static_cast<size_t>(p.offsets * n)), l(static_cast<size_t>(n));
    std::vector<float> vw(static_cast<size_t>(n), 1.0f);
    float* lg = &logit[h * n];
    const float* space = &p.space[h * (d - dt)];
    for (int64_t j = 0; j < n; ++j) {
      const float* k = key_row(j) + h * d;
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
        const float* v = value_row(j) + h * d;
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
      softmax_in_place(l);
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
    const float* va = value_row(ja);
    const float* vc = value_row(jc);
    const float na = dot(va, va, row_), nc = dot(vc, vc, row_);
    out.pair_cosine[i] = na > 0 && nc > 0 ? dot(va, vc, row_) / std::sqrt(na * nc) : (na == nc ? 1.0f : 0.0f);
  }
  return out;
}

}  // namespace wl::cpu
