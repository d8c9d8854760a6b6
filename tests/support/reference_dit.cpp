// The float64 reference of the causal Wan DiT (see reference_dit.h). Written
// from docs/model.md §1-§3 only; every step is a direct loop so it can be read
// against the formulas line by line.
#include "tests/support/reference_dit.h"
#include "tests/support/reference_half.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"

namespace wl::testref {

namespace {

using Vec = std::vector<double>;

// y[M, N] = x[M, K] W^T + b, W [N, K] (torch layout).
Vec linear(const Vec& x, int64_t M, int64_t K, const Vec& W, const Vec& b, int64_t N) {
  if (static_cast<int64_t>(x.size()) != M * K || static_cast<int64_t>(W.size()) != N * K ||
      static_cast<int64_t>(b.size()) != N)
    throw std::runtime_error("reference linear: size mismatch");
  Vec y(M * N);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = b[n];
      for (int64_t k = 0; k < K; ++k) s += x[m * K + k] * W[n * K + k];
      y[m * N + n] = s;
    }
  return y;
}

double silu(double v) { return v / (1.0 + std::exp(-v)); }
double gelu_tanh(double v) {
  const double c = std::sqrt(2.0 / M_PI);
  return 0.5 * v * (1.0 + std::tanh(c * (v + 0.044715 * v * v * v)));
}

// LayerNorm over rows of width D, biased variance, eps inside the sqrt.
// weight/bias empty: no affine.
Vec layer_norm(const Vec& x, int64_t D, double eps, const Vec& weight = {}, const Vec& bias = {}) {
  const int64_t rows = static_cast<int64_t>(x.size()) / D;
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0;
    for (int64_t d = 0; d < D; ++d) mean += x[r * D + d];
    mean /= D;
    double var = 0;
    for (int64_t d = 0; d < D; ++d) var += (x[r * D + d] - mean) * (x[r * D + d] - mean);
    var /= D;
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t d = 0; d < D; ++d) {
      double v = (x[r * D + d] - mean) * inv;
      if (!weight.empty()) v = v * weight[d] + bias[d];
      y[r * D + d] = v;
    }
  }
  return y;
}

// RMS norm over the whole row of width D.
Vec rms_norm(const Vec& x, int64_t D, double eps, const Vec& weight) {
  const int64_t rows = static_cast<int64_t>(x.size()) / D;
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0;
    for (int64_t d = 0; d < D; ++d) ms += x[r * D + d] * x[r * D + d];
    ms /= D;
    const double inv = 1.0 / std::sqrt(ms + eps);
    for (int64_t d = 0; d < D; ++d) y[r * D + d] = x[r * D + d] * inv * weight[d];
  }
  return y;
}

// 3D RoPE of one head vector (head_dim d) for position (frame, row, col).
void rope_head(double* v, int64_t d, int64_t frame, int64_t row, int64_t col) {
  const int64_t c = d / 2;
  const int64_t part_h = c / 3, part_w = c / 3;
  const int64_t part_t = c - 2 * (c / 3);
  for (int64_t i = 0; i < c; ++i) {
    int64_t pos, j, n;
    if (i < part_t) {
      pos = frame, j = i, n = part_t;
    } else if (i < part_t + part_h) {
      pos = row, j = i - part_t, n = part_h;
    } else {
      pos = col, j = i - part_t - part_h, n = part_w;
    }
    const double D = 2.0 * static_cast<double>(n);
    const double angle = static_cast<double>(pos) / std::pow(10000.0, 2.0 * static_cast<double>(j) / D);
    const double cs = std::cos(angle), sn = std::sin(angle);
    const double a = v[2 * i], b = v[2 * i + 1];
    v[2 * i] = a * cs - b * sn;
    v[2 * i + 1] = a * sn + b * cs;
  }
}

// Multi-head softmax attention. q [Lq, dim]; keys/values given as a list of
// row pointers into [.., dim] storage. Returns [Lq, dim] (heads concatenated).
Vec attention(const Vec& q, int64_t Lq, const std::vector<const double*>& krows,
              const std::vector<const double*>& vrows, int64_t heads, int64_t dim) {
  const int64_t hd = dim / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const int64_t Lk = static_cast<int64_t>(krows.size());
  Vec out(Lq * dim, 0.0);
  Vec logits(Lk);
  for (int64_t i = 0; i < Lq; ++i)
    for (int64_t h = 0; h < heads; ++h) {
      const double* qi = &q[i * dim + h * hd];
      double mx = -INFINITY;
      for (int64_t j = 0; j < Lk; ++j) {
        double s = 0;
        for (int64_t e = 0; e < hd; ++e) s += qi[e] * krows[j][h * hd + e];
        logits[j] = s * scale;
        mx = std::max(mx, logits[j]);
      }
      double den = 0;
      for (int64_t j = 0; j < Lk; ++j) {
        logits[j] = std::exp(logits[j] - mx);
        den += logits[j];
      }
      double* o = &out[i * dim + h * hd];
      for (int64_t j = 0; j < Lk; ++j) {
        const double p = logits[j] / den;
        for (int64_t e = 0; e < hd; ++e) o[e] += p * vrows[j][h * hd + e];
      }
    }
  return out;
}

std::string shape_string(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace

RefWeights read_ref_weights(const SafetensorsFile& file, const std::string& prefix) {
  RefWeights out;
  for (const std::string& name : file.names()) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const Tensor t = file.get(name);
    RefTensor r;
    r.shape = t.shape();
    // 16-bit weights decode with the tests' own conversion, not the engine's.
    const int64_t n = t.numel();
    r.data.resize(static_cast<size_t>(n));
    if (t.dtype() == DType::F32) {
      for (int64_t i = 0; i < n; ++i) r.data[static_cast<size_t>(i)] = t.f32()[i];
    } else if (t.dtype() == DType::F16 || t.dtype() == DType::BF16) {
      const uint16_t* h = t.data<uint16_t>();
      for (int64_t i = 0; i < n; ++i)
        r.data[static_cast<size_t>(i)] = t.dtype() == DType::F16 ? ref_f16_to_double(h[i]) : ref_bf16_to_double(h[i]);
    } else {
      throw std::runtime_error("reference: tensor '" + name + "' has dtype " + dtype_name(t.dtype()));
    }
    out.emplace(name.substr(prefix.size()), std::move(r));
  }
  return out;
}

RefConfig ref_config(const SafetensorsFile& file, const RefWeights& weights) {
  auto shape = [&](const std::string& n) -> const std::vector<int64_t>& {
    auto it = weights.find(n);
    if (it == weights.end()) throw std::runtime_error("reference: missing tensor '" + n + "'");
    return it->second.shape;
  };
  RefConfig c;
  const auto& pe = shape("patch_embedding.weight");  // [dim, C, 1, ph, pw]
  c.dim = pe.at(0);
  c.in_dim = pe.at(1);
  c.patch_h = pe.at(3);
  c.patch_w = pe.at(4);
  c.ffn_dim = shape("blocks.0.ffn.0.weight").at(0);
  c.freq_dim = shape("time_embedding.0.weight").at(1);
  c.text_dim = shape("text_embedding.0.weight").at(1);
  c.out_dim = shape("head.head.weight").at(0) / (c.patch_h * c.patch_w);
  c.num_layers = 0;
  while (weights.count("blocks." + std::to_string(c.num_layers) + ".modulation")) ++c.num_layers;
  c.num_heads = c.dim / 128;
  c.text_len = 512;
  auto it = file.metadata().find("config");
  if (it != file.metadata().end()) {
    const auto j = nlohmann::json::parse(it->second);
    if (j.contains("num_heads")) c.num_heads = j["num_heads"].get<int64_t>();
    if (j.contains("text_len")) c.text_len = j["text_len"].get<int64_t>();
    if (j.contains("eps")) c.eps = j["eps"].get<double>();
    if (j.contains("local_attn_size")) c.local_attn_size = j["local_attn_size"].get<int64_t>();
  }
  return c;
}

int64_t ref_max_attention_tokens(const RefConfig& config, int64_t height, int64_t width) {
  const int64_t tpf = (height / config.patch_h) * (width / config.patch_w);
  return config.local_attn_size > 0 ? config.local_attn_size * tpf : 32760;
}

double rel_l2(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw std::runtime_error("rel_l2: size mismatch");
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num) / std::sqrt(den);
}

RefDit::RefDit(const RefConfig& config, RefWeights weights) : config_(config), weights_(std::move(weights)) {
  const RefConfig& c = config_;
  auto expect = [&](const std::string& n, const std::vector<int64_t>& s) {
    auto it = weights_.find(n);
    if (it == weights_.end()) throw std::runtime_error("reference: missing tensor '" + n + "'");
    if (it->second.shape != s)
      throw std::runtime_error("reference: tensor '" + n + "' has shape " + shape_string(it->second.shape) +
                               ", expected " + shape_string(s));
  };
  const int64_t D = c.dim;
  expect("patch_embedding.weight", {D, c.in_dim, 1, c.patch_h, c.patch_w});
  expect("patch_embedding.bias", {D});
  expect("time_embedding.0.weight", {D, c.freq_dim});
  expect("time_embedding.0.bias", {D});
  expect("time_embedding.2.weight", {D, D});
  expect("time_embedding.2.bias", {D});
  expect("time_projection.1.weight", {6 * D, D});
  expect("time_projection.1.bias", {6 * D});
  expect("text_embedding.0.weight", {D, c.text_dim});
  expect("text_embedding.0.bias", {D});
  expect("text_embedding.2.weight", {D, D});
  expect("text_embedding.2.bias", {D});
  for (int64_t b = 0; b < c.num_layers; ++b) {
    const std::string p = "blocks." + std::to_string(b) + ".";
    expect(p + "modulation", {1, 6, D});
    for (const char* a : {"self_attn.", "cross_attn."}) {
      for (const char* l : {"q", "k", "v", "o"}) {
        expect(p + a + l + ".weight", {D, D});
        expect(p + a + l + ".bias", {D});
      }
      expect(p + a + "norm_q.weight", {D});
      expect(p + a + "norm_k.weight", {D});
    }
    expect(p + "norm3.weight", {D});
    expect(p + "norm3.bias", {D});
    expect(p + "ffn.0.weight", {c.ffn_dim, D});
    expect(p + "ffn.0.bias", {c.ffn_dim});
    expect(p + "ffn.2.weight", {D, c.ffn_dim});
    expect(p + "ffn.2.bias", {D});
  }
  expect("head.modulation", {1, 2, D});
  expect("head.head.weight", {c.patch_h * c.patch_w * c.out_dim, D});
  expect("head.head.bias", {c.patch_h * c.patch_w * c.out_dim});
  if (c.num_heads <= 0 || D % c.num_heads != 0 || (D / c.num_heads) % 2 != 0)
    throw std::runtime_error("reference: bad num_heads");
}

const std::vector<double>& RefDit::w(const std::string& name) const {
  auto it = weights_.find(name);
  if (it == weights_.end()) throw std::runtime_error("reference: missing tensor '" + name + "'");
  return it->second.data;
}

void RefDit::reset_cache(int64_t capacity_frames, int64_t sink_frames, int64_t max_attention_tokens) {
  capacity_ = capacity_frames;
  sink_ = sink_frames;
  max_tokens_ = max_attention_tokens;
  cache_.clear();
}

std::vector<int64_t> RefDit::cached_frames() const {
  std::vector<int64_t> out;
  for (const CachedFrame& f : cache_) out.push_back(f.frame);
  return out;
}

void RefDit::set_prompt(const std::vector<double>& context, int64_t rows) {
  const RefConfig& c = config_;
  if (rows > c.text_len || static_cast<int64_t>(context.size()) != rows * c.text_dim)
    throw std::runtime_error("reference: bad context");
  Vec padded(c.text_len * c.text_dim, 0.0);
  std::copy(context.begin(), context.end(), padded.begin());
  Vec h = linear(padded, c.text_len, c.text_dim, w("text_embedding.0.weight"), w("text_embedding.0.bias"), c.dim);
  for (double& v : h) v = gelu_tanh(v);
  const Vec ctx = linear(h, c.text_len, c.dim, w("text_embedding.2.weight"), w("text_embedding.2.bias"), c.dim);
  cross_k_.assign(c.num_layers, {});
  cross_v_.assign(c.num_layers, {});
  for (int64_t b = 0; b < c.num_layers; ++b) {
    const std::string p = "blocks." + std::to_string(b) + ".cross_attn.";
    Vec k = linear(ctx, c.text_len, c.dim, w(p + "k.weight"), w(p + "k.bias"), c.dim);
    cross_k_[b] = rms_norm(k, c.dim, c.eps, w(p + "norm_k.weight"));
    cross_v_[b] = linear(ctx, c.text_len, c.dim, w(p + "v.weight"), w(p + "v.bias"), c.dim);
  }
}

std::vector<double> RefDit::forward(const std::vector<double>& x, int64_t F, int64_t H, int64_t W,
                                    const std::vector<double>& t, int64_t s) {
  const RefConfig& c = config_;
  const int64_t D = c.dim, ph = c.patch_h, pw = c.patch_w;
  const int64_t hp = H / ph, wp = W / pw, tpf = hp * wp, T = F * tpf;
  if (H % ph || W % pw || static_cast<int64_t>(x.size()) != F * c.in_dim * H * W ||
      static_cast<int64_t>(t.size()) != F)
    throw std::runtime_error("reference: bad input shape");
  if (cross_k_.empty()) throw std::runtime_error("reference: no prompt");

  // ---- the cache bookkeeping of this call (docs/model.md §3) ----
  for (int64_t f = s; f < s + F; ++f) {
    bool present = false;
    for (const CachedFrame& e : cache_) present = present || e.frame == f;
    if (present) continue;
    if (!cache_.empty() && f <= cache_.back().frame)
      throw std::runtime_error("reference: frame " + std::to_string(f) + " was evicted or is out of order");
    CachedFrame e;
    e.frame = f;
    e.k.assign(c.num_layers, Vec(tpf * D, 0.0));
    e.v.assign(c.num_layers, Vec(tpf * D, 0.0));
    cache_.push_back(std::move(e));
  }
  while (static_cast<int64_t>(cache_.size()) > capacity_) {
    // The first sink_ entries are the first frames ever cached (they are never
    // evicted); drop the oldest one after them that this call does not use.
    int64_t victim = -1;
    for (int64_t i = sink_; i < static_cast<int64_t>(cache_.size()); ++i)
      if (cache_[i].frame < s) {
        victim = i;
        break;
      }
    if (victim < 0) throw std::runtime_error("reference: chunk does not fit in the cache");
    cache_.erase(cache_.begin() + victim);
  }
  auto entry = [&](int64_t frame) -> CachedFrame& {
    for (CachedFrame& e : cache_)
      if (e.frame == frame) return e;
    throw std::runtime_error("reference: frame not cached");
  };

  // ---- 1. patch embedding: a plain convolution, kernel = stride = (ph, pw) ----
  const Vec& pe_w = w("patch_embedding.weight");
  const Vec& pe_b = w("patch_embedding.bias");
  Vec h(T * D);
  for (int64_t f = 0; f < F; ++f)
    for (int64_t i = 0; i < hp; ++i)
      for (int64_t j = 0; j < wp; ++j) {
        const int64_t tok = (f * hp + i) * wp + j;
        for (int64_t d = 0; d < D; ++d) {
          double acc = pe_b[d];
          for (int64_t ch = 0; ch < c.in_dim; ++ch)
            for (int64_t kh = 0; kh < ph; ++kh)
              for (int64_t kw = 0; kw < pw; ++kw)
                acc += pe_w[((d * c.in_dim + ch) * ph + kh) * pw + kw] *
                       x[((f * c.in_dim + ch) * H + i * ph + kh) * W + j * pw + kw];
          h[tok * D + d] = acc;
        }
      }

  // ---- 2. time embedding per frame ----
  const int64_t half = c.freq_dim / 2;
  Vec sinus(F * c.freq_dim);
  for (int64_t f = 0; f < F; ++f)
    for (int64_t i = 0; i < half; ++i) {
      const double wi = std::pow(10000.0, -static_cast<double>(i) / static_cast<double>(half));
      sinus[f * c.freq_dim + i] = std::cos(t[f] * wi);
      sinus[f * c.freq_dim + half + i] = std::sin(t[f] * wi);
    }
  Vec e = linear(sinus, F, c.freq_dim, w("time_embedding.0.weight"), w("time_embedding.0.bias"), D);
  for (double& v : e) v = silu(v);
  e = linear(e, F, D, w("time_embedding.2.weight"), w("time_embedding.2.bias"), D);
  Vec se = e;
  for (double& v : se) v = silu(v);
  const Vec e0 = linear(se, F, D, w("time_projection.1.weight"), w("time_projection.1.bias"), 6 * D);  // [F, 6, D]

  const int64_t heads = c.num_heads, hd = D / heads;

  // ---- 4. blocks ----
  for (int64_t b = 0; b < c.num_layers; ++b) {
    const std::string p = "blocks." + std::to_string(b) + ".";
    const Vec& mod = w(p + "modulation");
    // m[f][r][d]
    auto m = [&](int64_t f, int r, int64_t d) { return mod[r * D + d] + e0[(f * 6 + r) * D + d]; };

    // self-attention
    Vec n1 = layer_norm(h, D, c.eps);
    for (int64_t tok = 0; tok < T; ++tok)
      for (int64_t d = 0; d < D; ++d)
        n1[tok * D + d] = n1[tok * D + d] * (1.0 + m(tok / tpf, 1, d)) + m(tok / tpf, 0, d);
    const std::string sa = p + "self_attn.";
    Vec q = rms_norm(linear(n1, T, D, w(sa + "q.weight"), w(sa + "q.bias"), D), D, c.eps, w(sa + "norm_q.weight"));
    Vec k = rms_norm(linear(n1, T, D, w(sa + "k.weight"), w(sa + "k.bias"), D), D, c.eps, w(sa + "norm_k.weight"));
    Vec v = linear(n1, T, D, w(sa + "v.weight"), w(sa + "v.bias"), D);
    for (int64_t f = 0; f < F; ++f)
      for (int64_t i = 0; i < hp; ++i)
        for (int64_t j = 0; j < wp; ++j) {
          const int64_t tok = (f * hp + i) * wp + j;
          for (int64_t hh = 0; hh < heads; ++hh) {
            rope_head(&q[tok * D + hh * hd], hd, s + f, i, j);
            rope_head(&k[tok * D + hh * hd], hd, s + f, i, j);
          }
        }
    // write this call's frames into the cache (overwriting)
    for (int64_t f = 0; f < F; ++f) {
      CachedFrame& ce = entry(s + f);
      std::copy(k.begin() + f * tpf * D, k.begin() + (f + 1) * tpf * D, ce.k[b].begin());
      std::copy(v.begin() + f * tpf * D, v.begin() + (f + 1) * tpf * D, ce.v[b].begin());
    }
    // keys: every cached frame below s+F, oldest first, newest max_tokens_ tokens
    std::vector<const double*> krows, vrows;
    for (const CachedFrame& ce : cache_) {
      if (ce.frame >= s + F) continue;
      for (int64_t r = 0; r < tpf; ++r) {
        krows.push_back(&ce.k[b][r * D]);
        vrows.push_back(&ce.v[b][r * D]);
      }
    }
    if (max_tokens_ > 0 && static_cast<int64_t>(krows.size()) > max_tokens_) {
      const int64_t drop = static_cast<int64_t>(krows.size()) - max_tokens_;
      krows.erase(krows.begin(), krows.begin() + drop);
      vrows.erase(vrows.begin(), vrows.begin() + drop);
    }
    Vec att = attention(q, T, krows, vrows, heads, D);
    Vec y = linear(att, T, D, w(sa + "o.weight"), w(sa + "o.bias"), D);
    for (int64_t tok = 0; tok < T; ++tok)
      for (int64_t d = 0; d < D; ++d) h[tok * D + d] += y[tok * D + d] * m(tok / tpf, 2, d);

    // cross-attention
    const std::string ca = p + "cross_attn.";
    Vec n3 = layer_norm(h, D, c.eps, w(p + "norm3.weight"), w(p + "norm3.bias"));
    Vec cq = rms_norm(linear(n3, T, D, w(ca + "q.weight"), w(ca + "q.bias"), D), D, c.eps, w(ca + "norm_q.weight"));
    std::vector<const double*> ck, cv;
    for (int64_t r = 0; r < c.text_len; ++r) {
      ck.push_back(&cross_k_[b][r * D]);
      cv.push_back(&cross_v_[b][r * D]);
    }
    Vec catt = attention(cq, T, ck, cv, heads, D);
    Vec cy = linear(catt, T, D, w(ca + "o.weight"), w(ca + "o.bias"), D);
    for (int64_t i = 0; i < T * D; ++i) h[i] += cy[i];

    // feed-forward
    Vec n2 = layer_norm(h, D, c.eps);
    for (int64_t tok = 0; tok < T; ++tok)
      for (int64_t d = 0; d < D; ++d)
        n2[tok * D + d] = n2[tok * D + d] * (1.0 + m(tok / tpf, 4, d)) + m(tok / tpf, 3, d);
    Vec f1 = linear(n2, T, D, w(p + "ffn.0.weight"), w(p + "ffn.0.bias"), c.ffn_dim);
    for (double& val : f1) val = gelu_tanh(val);
    Vec f2 = linear(f1, T, c.ffn_dim, w(p + "ffn.2.weight"), w(p + "ffn.2.bias"), D);
    for (int64_t tok = 0; tok < T; ++tok)
      for (int64_t d = 0; d < D; ++d) h[tok * D + d] += f2[tok * D + d] * m(tok / tpf, 5, d);
  }

  // ---- 5. head ----
  const Vec& hm = w("head.modulation");
  Vec nh = layer_norm(h, D, c.eps);
  for (int64_t tok = 0; tok < T; ++tok)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t f = tok / tpf;
      const double shift = hm[d] + e[f * D + d];
      const double scale = hm[D + d] + e[f * D + d];
      nh[tok * D + d] = nh[tok * D + d] * (1.0 + scale) + shift;
    }
  const int64_t P = ph * pw * c.out_dim;
  Vec tokens = linear(nh, T, D, w("head.head.weight"), w("head.head.bias"), P);

  // ---- 6. unpatchify: vector (ph, pw, c), c fastest ----
  Vec out(F * c.out_dim * H * W);
  for (int64_t f = 0; f < F; ++f)
    for (int64_t i = 0; i < hp; ++i)
      for (int64_t j = 0; j < wp; ++j) {
        const int64_t tok = (f * hp + i) * wp + j;
        for (int64_t a = 0; a < ph; ++a)
          for (int64_t bq = 0; bq < pw; ++bq)
            for (int64_t ch = 0; ch < c.out_dim; ++ch)
              out[((f * c.out_dim + ch) * H + i * ph + a) * W + j * pw + bq] =
                  tokens[tok * P + (a * pw + bq) * c.out_dim + ch];
      }
  return out;
}

}  // namespace wl::testref
