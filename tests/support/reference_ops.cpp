// Reference ops in float64, written straight from the formulas in
// runtime/core/ops.h (see reference_ops.h).
#include "tests/support/reference_ops.h"

#include <algorithm>
#include <cmath>

namespace wl::ref {

Tensor uniform(const Shape& s, std::mt19937& g, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  Tensor t = Tensor::empty(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = u(g);
  return t;
}

std::vector<double> to_double(const Tensor& t) {
  std::vector<float> f = t.to_floats();
  return std::vector<double>(f.begin(), f.end());
}

std::vector<double> linear(const Tensor& x, const Tensor& w, const Tensor& b, ops::MatmulPrecision precision) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  const bool bf16 = precision == ops::MatmulPrecision::BF16;
  std::vector<double> xv = to_double(bf16 ? x.to(DType::BF16) : x), wv = to_double(bf16 ? w.to(DType::BF16) : w);
  std::vector<double> bv = b.defined() ? to_double(b) : std::vector<double>(static_cast<size_t>(N), 0.0);
  std::vector<double> y(static_cast<size_t>(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = bv[n];
      for (int64_t k = 0; k < K; ++k) acc += xv[m * K + k] * wv[n * K + k];
      y[m * N + n] = acc;
    }
  return y;
}

std::vector<double> layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t D = x.dim(-1), rows = x.numel() / D;
  std::vector<double> v = to_double(x), out(v.size());
  std::vector<double> w = weight.defined() ? to_double(weight) : std::vector<double>(D, 1.0);
  std::vector<double> b = bias.defined() ? to_double(bias) : std::vector<double>(D, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < D; ++i) mean += v[r * D + i];
    mean /= D;
    for (int64_t i = 0; i < D; ++i) var += (v[r * D + i] - mean) * (v[r * D + i] - mean);
    var /= D;  // biased
    for (int64_t i = 0; i < D; ++i) out[r * D + i] = (v[r * D + i] - mean) / std::sqrt(var + eps) * w[i] + b[i];
  }
  return out;
}

std::vector<double> layer_norm_modulate(const Tensor& x, const Tensor& mod, int shift_row, int scale_row,
                                        int64_t tokens_per_frame, double eps) {
  const int64_t T = x.dim(0), D = x.dim(1), R = mod.dim(1);
  std::vector<double> n = layer_norm(x, Tensor(), Tensor(), eps), m = to_double(mod);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t f = t / tokens_per_frame;
    for (int64_t i = 0; i < D; ++i)
      n[t * D + i] = n[t * D + i] * (1.0 + m[(f * R + scale_row) * D + i]) + m[(f * R + shift_row) * D + i];
  }
  return n;
}

std::vector<double> rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  const int64_t D = x.dim(-1), rows = x.numel() / D;
  std::vector<double> v = to_double(x), out(v.size());
  std::vector<double> w = weight.defined() ? to_double(weight) : std::vector<double>(D, 1.0);
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0;
    for (int64_t i = 0; i < D; ++i) ms += v[r * D + i] * v[r * D + i];
    ms /= D;
    for (int64_t i = 0; i < D; ++i) out[r * D + i] = v[r * D + i] / std::sqrt(ms + eps) * w[i];
  }
  return out;
}

std::vector<double> gated_add(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_row,
                              int64_t tokens_per_frame) {
  const int64_t T = x.dim(0), D = x.dim(1), R = mod.dim(1);
  std::vector<double> a = to_double(x), b = to_double(y), m = to_double(mod);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < D; ++i) a[t * D + i] += b[t * D + i] * m[((t / tokens_per_frame) * R + gate_row) * D + i];
  return a;
}

std::vector<double> add(const Tensor& x, const Tensor& y) {
  std::vector<double> a = to_double(x), b = to_double(y);
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

std::vector<double> mul(const Tensor& x, const Tensor& y) {
  std::vector<double> a = to_double(x), b = to_double(y);
  for (size_t i = 0; i < a.size(); ++i) a[i] *= b[i];
  return a;
}

std::vector<double> add_modulation(const Tensor& base, const Tensor& e) {
  const int64_t R = base.dim(0), D = base.dim(1), F = e.dim(0);
  const bool per_row = e.rank() == 3;
  std::vector<double> bv = to_double(base), ev = to_double(e), out(static_cast<size_t>(F * R * D));
  for (int64_t f = 0; f < F; ++f)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t i = 0; i < D; ++i)
        out[(f * R + r) * D + i] = bv[r * D + i] + (per_row ? ev[(f * R + r) * D + i] : ev[f * D + i]);
  return out;
}

std::vector<double> gelu_tanh(const Tensor& x) {
  std::vector<double> v = to_double(x);
  const double k = std::sqrt(2.0 / M_PI);
  for (double& e : v) e = 0.5 * e * (1.0 + std::tanh(k * (e + 0.044715 * e * e * e)));
  return v;
}

std::vector<double> silu(const Tensor& x) {
  std::vector<double> v = to_double(x);
  for (double& e : v) e = e / (1.0 + std::exp(-e));
  return v;
}

namespace {

// rope_3d in place on v [T, H, d] in float64.
void rope_3d_inplace(std::vector<double>& v, int64_t H, int64_t d, int64_t frame0, int64_t frames, int64_t rows,
                     int64_t cols) {
  const int64_t c = d / 2;
  const int64_t sizes[3] = {c - 2 * (c / 3), c / 3, c / 3};
  int64_t t = 0;
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t w = 0; w < cols; ++w, ++t) {
        const int64_t pos[3] = {frame0 + f, r, w};
        for (int64_t h = 0; h < H; ++h) {
          int64_t pair = 0;
          for (int part = 0; part < 3; ++part) {
            const int64_t n = sizes[part];
            for (int64_t i = 0; i < n; ++i, ++pair) {
              const double angle = static_cast<double>(pos[part]) /
                                   std::pow(10000.0, static_cast<double>(2 * i) / static_cast<double>(2 * n));
              double* e = &v[(t * H + h) * d + 2 * pair];
              const double re = e[0], im = e[1];
              e[0] = re * std::cos(angle) - im * std::sin(angle);
              e[1] = re * std::sin(angle) + im * std::cos(angle);
            }
          }
        }
      }
}

}  // namespace

std::vector<double> rope_3d(const Tensor& x, int64_t frame0, int64_t frames, int64_t rows, int64_t cols) {
  std::vector<double> v = to_double(x);
  rope_3d_inplace(v, x.dim(1), x.dim(2), frame0, frames, rows, cols);
  return v;
}

std::vector<std::vector<double>> rms_norm_rope_3d(const Tensor& x, const Tensor& weight, double eps, int64_t frame0,
                                                  int64_t frames, int64_t rows, int64_t cols) {
  const int64_t T = x.dim(0), H = x.dim(1), d = x.dim(2);
  std::vector<double> normed = rms_norm(x.reshape({T, H * d}), weight, eps), rotated = normed;
  rope_3d_inplace(rotated, H, d, frame0, frames, rows, cols);
  return {normed, rotated};
}

std::vector<double> biased_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias,
                                     const Tensor& key_mask, double scale) {
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2), Lk = k.dim(0);
  const std::vector<double> qv = to_double(q), kv = to_double(k), vv = to_double(v);
  const std::vector<double> bv = bias.defined() ? to_double(bias) : std::vector<double>();
  const std::vector<double> mv = key_mask.defined() ? to_double(key_mask) : std::vector<double>();
  std::vector<double> out(qv.size(), 0.0), logit(static_cast<size_t>(Lk));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Lq; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < Lk; ++j) {
        if (!mv.empty() && mv[j] == 0.0) continue;
        double s = 0;
        for (int64_t c = 0; c < d; ++c) s += qv[(i * H + h) * d + c] * kv[(j * H + h) * d + c];
        logit[j] = s * scale + (bv.empty() ? 0.0 : bv[(h * Lq + i) * Lk + j]);
        mx = std::max(mx, logit[j]);
      }
      if (mx == -INFINITY) continue;  // no kept key: zeros
      double sum = 0;
      for (int64_t j = 0; j < Lk; ++j)
        if (mv.empty() || mv[j] != 0.0) sum += std::exp(logit[j] - mx);
      for (int64_t j = 0; j < Lk; ++j) {
        if (!mv.empty() && mv[j] == 0.0) continue;
        const double w = std::exp(logit[j] - mx) / sum;
        for (int64_t c = 0; c < d; ++c) out[(i * H + h) * d + c] += w * vv[(j * H + h) * d + c];
      }
    }
  return out;
}

std::vector<double> attention(const Tensor& q, const std::vector<ops::KVSegment>& kv, double scale) {
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2);
  std::vector<double> qv = to_double(q), out(qv.size(), 0.0);
  // Gather the keys of all segments in order.
  std::vector<const float*> krow, vrow;
  std::vector<double> bias;
  for (const ops::KVSegment& s : kv)
    for (int64_t j = 0; j < s.len; ++j) {
      krow.push_back(s.k + j * H * d);
      vrow.push_back(s.v + j * H * d);
      bias.push_back(s.bias ? s.bias[j] : 0.0);
    }
  const size_t n = krow.size();
  std::vector<double> logit(n);
  for (int64_t i = 0; i < Lq; ++i)
    for (int64_t h = 0; h < H; ++h) {
      double mx = -INFINITY;
      for (size_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t c = 0; c < d; ++c) s += qv[(i * H + h) * d + c] * static_cast<double>(krow[j][h * d + c]);
        logit[j] = s * scale + bias[j];
        mx = std::max(mx, logit[j]);
      }
      double sum = 0;
      for (size_t j = 0; j < n; ++j) sum += std::exp(logit[j] - mx);
      for (size_t j = 0; j < n; ++j) {
        const double p = std::exp(logit[j] - mx) / sum;
        for (int64_t c = 0; c < d; ++c) out[(i * H + h) * d + c] += p * static_cast<double>(vrow[j][h * d + c]);
      }
    }
  return out;
}

std::vector<double> conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t o = w.dim(0), kh = w.dim(2), kw = w.dim(3);
  const int64_t ho = (h + 2 * padding - kh) / stride + 1, wo = (wd + 2 * padding - kw) / stride + 1;
  std::vector<double> xv = to_double(x), wv = to_double(w);
  std::vector<double> bv = b.defined() ? to_double(b) : std::vector<double>(static_cast<size_t>(o), 0.0);
  std::vector<double> y(static_cast<size_t>(n * o * ho * wo));
  for (int64_t in = 0; in < n; ++in)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t i = 0; i < ho; ++i)
        for (int64_t j = 0; j < wo; ++j) {
          double acc = bv[oc];
          for (int64_t ic = 0; ic < c; ++ic)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t yi = i * stride - padding + p, xj = j * stride - padding + q;
                if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue;
                acc += xv[((in * c + ic) * h + yi) * wd + xj] * wv[((oc * c + ic) * kh + p) * kw + q];
              }
          y[((in * o + oc) * ho + i) * wo + j] = acc;
        }
  return y;
}

std::vector<double> upsample_nearest_2x(const Tensor& x) {
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  std::vector<double> v = to_double(x), out(static_cast<size_t>(planes * 4 * H * W));
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < 2 * H; ++i)
      for (int64_t j = 0; j < 2 * W; ++j) out[(p * 2 * H + i) * 2 * W + j] = v[(p * H + i / 2) * W + j / 2];
  return out;
}

std::vector<double> patchify(const Tensor& x, int ph, int pw) {
  const int64_t F = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), h = H / ph, w = W / pw;
  std::vector<double> v = to_double(x), out;
  for (int64_t f = 0; f < F; ++f)
    for (int64_t hi = 0; hi < h; ++hi)
      for (int64_t wi = 0; wi < w; ++wi)
        for (int64_t c = 0; c < C; ++c)
          for (int kh = 0; kh < ph; ++kh)
            for (int kw = 0; kw < pw; ++kw)
              out.push_back(v[((f * C + c) * H + hi * ph + kh) * W + wi * pw + kw]);
  return out;
}

std::vector<double> unpatchify(const Tensor& tokens, int64_t frames, int64_t h, int64_t w, int ph, int pw,
                               int64_t channels) {
  const int64_t H = h * ph, W = w * pw;
  std::vector<double> v = to_double(tokens), out(static_cast<size_t>(frames * channels * H * W));
  int64_t i = 0;  // walk the tokens in memory order
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t hi = 0; hi < h; ++hi)
      for (int64_t wi = 0; wi < w; ++wi)
        for (int kh = 0; kh < ph; ++kh)
          for (int kw = 0; kw < pw; ++kw)
            for (int64_t c = 0; c < channels; ++c)
              out[((f * channels + c) * H + hi * ph + kh) * W + wi * pw + kw] = v[i++];
  return out;
}

// ---- the KV cache's ops --------------------------------------------------------------

namespace {
int64_t row_floats(const Tensor& t) {
  int64_t n = 1;
  for (int i = 1; i < t.rank(); ++i) n *= t.dim(i);
  return n;
}
}  // namespace

std::vector<double> set_rows(const Tensor& table, const std::vector<int32_t>& index, const Tensor& rows) {
  const int64_t row = row_floats(table);
  std::vector<double> out = to_double(table), r = to_double(rows);
  for (size_t i = 0; i < index.size(); ++i)
    for (int64_t e = 0; e < row; ++e) out[index[i] * row + e] = r[i * row + e];
  return out;
}

std::vector<double> get_rows(const Tensor& table, const std::vector<int32_t>& index) {
  const int64_t row = row_floats(table);
  std::vector<double> t = to_double(table), out(index.size() * static_cast<size_t>(row), 0.0);
  for (size_t i = 0; i < index.size(); ++i)
    if (index[i] >= 0)
      for (int64_t e = 0; e < row; ++e) out[i * row + e] = t[index[i] * row + e];
  return out;
}

std::vector<double> merge_rows(const Tensor& table, const std::vector<ops::RowMerge>& merges) {
  const int64_t row = row_floats(table);
  std::vector<double> t = to_double(table);
  for (const ops::RowMerge& m : merges)
    for (int64_t e = 0; e < row; ++e)
      t[m.into * row + e] = static_cast<double>(m.w_into) * t[m.into * row + e] +
                            static_cast<double>(m.w_from) * t[m.from * row + e];
  return t;
}

std::vector<double> attention_mass(const Tensor& q, const Tensor& keys, const std::vector<int32_t>& rows,
                                   const Tensor& bias, int64_t queries, double scale) {
  const int64_t T = q.dim(0), H = keys.dim(1), d = keys.dim(2), n = static_cast<int64_t>(rows.size());
  const std::vector<double> qv = to_double(q), kv = to_double(keys);
  const std::vector<double> bv = bias.defined() ? to_double(bias) : std::vector<double>(keys.dim(0), 0.0);
  std::vector<double> mass(static_cast<size_t>(n), 0.0), logit(static_cast<size_t>(n));
  for (int64_t i = 0; i < queries; ++i) {
    const int64_t t = ((2 * i + 1) * T) / (2 * queries);
    for (int64_t h = 0; h < H; ++h) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < d; ++e) dot += qv[(t * H + h) * d + e] * kv[(rows[j] * H + h) * d + e];
        logit[j] = dot * scale + bv[rows[j]];
        mx = std::max(mx, logit[j]);
      }
      for (int64_t j = 0; j < n; ++j) sum += std::exp(logit[j] - mx);
      for (int64_t j = 0; j < n; ++j) mass[j] += std::exp(logit[j] - mx) / sum;
    }
  }
  return mass;
}

std::vector<std::vector<double>> query_sums(const Tensor& x) {
  const int64_t T = x.dim(0), row = row_floats(x);
  const std::vector<double> v = to_double(x);
  std::vector<std::vector<double>> out(2, std::vector<double>(static_cast<size_t>(row), 0.0));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < row; ++i) {
      out[0][i] += v[t * row + i];
      out[1][i] += v[t * row + i] * v[t * row + i];
    }
  return out;
}

std::vector<std::vector<double>> expected_attention(const Tensor& keys, const Tensor& values,
                                                    const std::vector<int32_t>& rows,
                                                    const std::vector<float>& log_count, const ops::ExpectedQuery& q,
                                                    bool weight_by_value_norm, const std::vector<ops::RowPair>& pairs,
                                                    double cost_limit) {
  const int64_t H = keys.dim(1), d = keys.dim(2), n = static_cast<int64_t>(rows.size()), O = q.offsets, dt = q.dt;
  std::vector<std::vector<double>> out(4);
  if (n == 0) return out;
  const std::vector<double> kv = to_double(keys), vv = to_double(values);
  auto k = [&](int64_t j, int64_t h, int64_t e) { return kv[(rows[j] * H + h) * d + e]; };
  auto v = [&](int64_t j, int64_t h, int64_t e) { return vv[(rows[j] * H + h) * d + e]; };
  std::vector<double> L(static_cast<size_t>(H * n));  // [H][n] space + mean time: what pair costs compare
  out[0].assign(static_cast<size_t>(n), 0.0);
  out[1].assign(static_cast<size_t>(n), 0.0);
  for (int64_t h = 0; h < H; ++h) {
    std::vector<double> base(static_cast<size_t>(n)), w(static_cast<size_t>(n), 1.0);
    std::vector<std::vector<double>> tdot(static_cast<size_t>(O), std::vector<double>(static_cast<size_t>(n)));
    for (int64_t j = 0; j < n; ++j) {
      double space = 0, var = 0, time_mean = 0, vsq = 0;
      for (int64_t e = dt; e < d; ++e) space += static_cast<double>(q.space[h * (d - dt) + e - dt]) * k(j, h, e);
      if (!q.var.empty())
        for (int64_t e = 0; e < d; ++e) var += static_cast<double>(q.var[h * d + e]) * k(j, h, e) * k(j, h, e);
      for (int64_t o = 0; o < O; ++o) {
        double t = 0;
        for (int64_t e = 0; e < dt; ++e) t += static_cast<double>(q.time[(o * H + h) * dt + e]) * k(j, h, e);
        tdot[o][j] = t;
        time_mean += t / static_cast<double>(O);
      }
      L[h * n + j] = space + time_mean;
      base[j] = space + var + log_count[j];
      for (int64_t e = 0; e < d; ++e) vsq += v(j, h, e) * v(j, h, e);
      if (weight_by_value_norm) w[j] = std::sqrt(vsq);
    }
    if (weight_by_value_norm) {
      double mean = 0;
      for (double x : w) mean += x / static_cast<double>(n);
      for (double& x : w) x = mean > 0 ? x / mean : 0.0;
    }
    for (int64_t o = 0; o < O; ++o) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < n; ++j) mx = std::max(mx, base[j] + tdot[o][j]);
      for (int64_t j = 0; j < n; ++j) sum += std::exp(base[j] + tdot[o][j] - mx);
      for (int64_t j = 0; j < n; ++j) {
        const double p = std::exp(base[j] + tdot[o][j] - mx) / sum / static_cast<double>(H * O);
        out[0][j] += p;
        out[1][j] += p * w[j];
      }
    }
  }
  for (const ops::RowPair& pr : pairs) {
    double cost = 0;
    for (int64_t h = 0; h < H && cost < cost_limit; ++h) cost = std::max(cost, std::abs(L[h * n + pr.a] - L[h * n + pr.b]));
    out[2].push_back(cost);
    if (cost >= cost_limit) {
      out[3].push_back(NAN);
      continue;
    }
    double na = 0, nb = 0, ab = 0;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t e = 0; e < d; ++e) {
        na += v(pr.a, h, e) * v(pr.a, h, e);
        nb += v(pr.b, h, e) * v(pr.b, h, e);
        ab += v(pr.a, h, e) * v(pr.b, h, e);
      }
    out[3].push_back(na > 0 && nb > 0 ? ab / std::sqrt(na * nb) : (na == nb ? 1.0 : 0.0));
  }
  return out;
}

double normalised_error(const Tensor& a, const std::vector<double>& b) {
  std::vector<float> av = a.to_floats();
  if (av.size() != b.size()) return INFINITY;
  double err = 0, mx = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double e = std::abs(static_cast<double>(av[i]) - b[i]);
    if (!(e <= err)) err = e;  // NaN sticks
    mx = std::max(mx, std::abs(b[i]));
  }
  return err / (mx + 1e-30);
}

double relative_error(const Tensor& a, const std::vector<double>& b, double floor) {
  std::vector<float> av = a.to_floats();
  if (av.size() != b.size()) return INFINITY;
  double err = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double e = std::abs(static_cast<double>(av[i]) - b[i]) / (std::abs(b[i]) + floor);
    if (!(e <= err)) err = e;  // NaN sticks
  }
  return err;
}

}  // namespace wl::ref
