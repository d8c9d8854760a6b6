#include "tests/support/reference_umt5.h"

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "runtime/core/safetensors.h"

namespace wl::testref {
namespace {

std::vector<double> dbl(const Tensor& t) {
  std::vector<float> f = t.to_floats();
  return std::vector<double>(f.begin(), f.end());
}

// y [L, N] = x [L, K] W^T, W [N, K].
std::vector<double> matmul_t(const std::vector<double>& x, int64_t L, int64_t K, const std::vector<double>& w,
                             int64_t N) {
  std::vector<double> y(static_cast<size_t>(L * N), 0.0);
  for (int64_t i = 0; i < L; ++i)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += x[i * K + k] * w[n * K + k];
      y[i * N + n] = s;
    }
  return y;
}

std::vector<double> rms(const std::vector<double>& x, int64_t L, int64_t D, const std::vector<double>& w, double eps) {
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < L; ++i) {
    double ms = 0;
    for (int64_t j = 0; j < D; ++j) ms += x[i * D + j] * x[i * D + j];
    const double inv = 1.0 / std::sqrt(ms / static_cast<double>(D) + eps);
    for (int64_t j = 0; j < D; ++j) y[i * D + j] = x[i * D + j] * inv * w[j];
  }
  return y;
}

}  // namespace

int64_t umt5_bucket_ref(int64_t r, int64_t buckets, int64_t max_dist) {
  const int64_t nb = buckets / 2;
  int64_t out = r > 0 ? nb : 0;
  const int64_t n = std::llabs(r);
  const int64_t max_exact = nb / 2;
  if (n < max_exact) return out + n;
  // floor(ln(n / max_exact) / ln(max_dist / max_exact) * (nb - max_exact)) is the
  // number of k >= 1 with n >= edge_k = max_exact * (max_dist / max_exact)^(k / (nb - max_exact));
  // counting edges up to k = nb - max_exact - 1 caps the bucket at nb - 1.
  const long double ratio = static_cast<long double>(max_dist) / static_cast<long double>(max_exact);
  int64_t count = 0;
  for (int64_t k = 1; k < nb - max_exact; ++k) {
    long double edge = max_exact * std::pow(ratio, static_cast<long double>(k) / static_cast<long double>(nb - max_exact));
    if (std::fabs(edge - std::nearbyint(edge)) < 1e-9L) edge = std::nearbyint(edge);  // exact powers (16, 32, 64)
    if (static_cast<long double>(n) >= edge) ++count;
  }
  return out + max_exact + count;
}

std::map<std::string, Tensor> random_umt5(const Umt5Spec& s) {
  std::mt19937_64 g(s.seed);
  std::map<std::string, Tensor> t;
  auto make = [&](const std::string& name, Shape shape, double scale, double offset = 0.0) {
    std::normal_distribution<double> nd(0.0, 1.0);
    Tensor x = Tensor::empty(shape);
    for (int64_t i = 0; i < x.numel(); ++i)
      x.f32()[i] = bf16_to_f32(f32_to_bf16(static_cast<float>(offset + scale * nd(g))));  // bf16-exact
    t[name] = x;
  };
  const double sd = 1.0 / std::sqrt(static_cast<double>(s.dim));
  make("token_embedding.weight", {s.vocab, s.dim}, 1.0);
  for (int64_t n = 0; n < s.layers; ++n) {
    const std::string p = "blocks." + std::to_string(n) + ".";
    make(p + "norm1.weight", {s.dim}, 0.1, 1.0);
    // T5 initialises q with the 1/sqrt(head width) that its attention omits.
    make(p + "attn.q.weight", {s.dim_attn, s.dim}, sd / std::sqrt(static_cast<double>(s.dim_attn / s.heads)));
    make(p + "attn.k.weight", {s.dim_attn, s.dim}, sd);
    make(p + "attn.v.weight", {s.dim_attn, s.dim}, sd);
    make(p + "attn.o.weight", {s.dim, s.dim_attn}, 1.0 / std::sqrt(static_cast<double>(s.dim_attn)));
    make(p + "norm2.weight", {s.dim}, 0.1, 1.0);
    make(p + "ffn.gate.0.weight", {s.dim_ffn, s.dim}, sd);
    make(p + "ffn.fc1.weight", {s.dim_ffn, s.dim}, sd);
    make(p + "ffn.fc2.weight", {s.dim, s.dim_ffn}, 1.0 / std::sqrt(static_cast<double>(s.dim_ffn)));
    make(p + "pos_embedding.embedding.weight", {s.buckets, s.heads}, 0.5);
  }
  make("norm.weight", {s.dim}, 0.1, 1.0);
  return t;
}

void write_umt5(const std::string& path, const Umt5Spec& s, const std::map<std::string, Tensor>& tensors) {
  std::vector<std::pair<std::string, Tensor>> list(tensors.begin(), tensors.end());
  std::map<std::string, std::string> meta;
  if (s.write_config) {
    nlohmann::json c = {{"vocab", s.vocab},         {"dim", s.dim},           {"dim_attn", s.dim_attn},
                        {"dim_ffn", s.dim_ffn},     {"num_heads", s.heads},   {"num_layers", s.layers},
                        {"num_buckets", s.buckets}, {"shared_pos", false},    {"max_dist", s.max_dist},
                        {"eps", s.eps},             {"text_len", s.text_len}};
    meta["config"] = c.dump();
  }
  write_safetensors(path, list, meta);
}

std::vector<double> umt5_encode_ref(const Umt5Spec& s, const std::map<std::string, Tensor>& w,
                                    const std::vector<int32_t>& ids, const std::vector<float>& mask,
                                    std::vector<std::vector<double>>* blocks) {
  const int64_t L = static_cast<int64_t>(ids.size()), D = s.dim, A = s.dim_attn, F = s.dim_ffn, H = s.heads;
  const int64_t dh = A / H;
  auto W = [&](const std::string& n) { return dbl(w.at(n)); };
  const std::vector<double> E = W("token_embedding.weight");
  std::vector<double> x(static_cast<size_t>(L * D));
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = 0; j < D; ++j) x[i * D + j] = E[ids[i] * D + j];
  for (int64_t n = 0; n < s.layers; ++n) {
    const std::string p = "blocks." + std::to_string(n) + ".";
    const std::vector<double> P = W(p + "pos_embedding.embedding.weight");  // [buckets, H]
    std::vector<double> a = rms(x, L, D, W(p + "norm1.weight"), s.eps);
    const std::vector<double> q = matmul_t(a, L, D, W(p + "attn.q.weight"), A);
    const std::vector<double> k = matmul_t(a, L, D, W(p + "attn.k.weight"), A);
    const std::vector<double> v = matmul_t(a, L, D, W(p + "attn.v.weight"), A);
    std::vector<double> o(static_cast<size_t>(L * A), 0.0), sc(static_cast<size_t>(L));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < L; ++i) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < L; ++j) {
          if (mask[j] == 0.0f) continue;
          double d = 0;
          for (int64_t c = 0; c < dh; ++c) d += q[i * A + h * dh + c] * k[j * A + h * dh + c];
          sc[j] = d + P[umt5_bucket_ref(j - i, s.buckets, s.max_dist) * H + h];
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < L; ++j)
          if (mask[j] != 0.0f) sum += std::exp(sc[j] - mx);
        for (int64_t j = 0; j < L; ++j) {
          if (mask[j] == 0.0f) continue;
          const double pr = std::exp(sc[j] - mx) / sum;
          for (int64_t c = 0; c < dh; ++c) o[i * A + h * dh + c] += pr * v[j * A + h * dh + c];
        }
      }
    const std::vector<double> ao = matmul_t(o, L, A, W(p + "attn.o.weight"), D);
    for (size_t e = 0; e < x.size(); ++e) x[e] += ao[e];
    a = rms(x, L, D, W(p + "norm2.weight"), s.eps);
    std::vector<double> gt = matmul_t(a, L, D, W(p + "ffn.gate.0.weight"), F);
    const std::vector<double> l1 = matmul_t(a, L, D, W(p + "ffn.fc1.weight"), F);
    const double kk = std::sqrt(2.0 / M_PI);
    for (size_t e = 0; e < gt.size(); ++e) {
      const double z = gt[e];
      gt[e] = l1[e] * 0.5 * z * (1.0 + std::tanh(kk * (z + 0.044715 * z * z * z)));
    }
    const std::vector<double> f = matmul_t(gt, L, F, W(p + "ffn.fc2.weight"), D);
    for (size_t e = 0; e < x.size(); ++e) x[e] += f[e];
    if (blocks) blocks->push_back(x);
  }
  return rms(x, L, D, W("norm.weight"), s.eps);
}

double rel_l2(const std::vector<float>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

}  // namespace wl::testref
