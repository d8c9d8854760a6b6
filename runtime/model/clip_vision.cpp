// specs/encoders.md §2.1 (preprocessing) and §2.2 (the transformer).
#include "runtime/model/clip_vision.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"

namespace wl {
namespace {

constexpr double kCubicA = -0.75;
const double kClipMean[3] = {0.48145466, 0.4578275, 0.40821073};
const double kClipStd[3] = {0.26862954, 0.26130258, 0.27577711};

double cubic_near(double x) { return ((kCubicA + 2.0) * x - (kCubicA + 3.0)) * x * x + 1.0; }                 // |x| <= 1
double cubic_far(double x) { return ((kCubicA * x - 5.0 * kCubicA) * x + 8.0 * kCubicA) * x - 4.0 * kCubicA; }  // 1 < |x| < 2

// The [n_out, n_in] matrix of one axis; clamped taps add up.
std::vector<double> bicubic_matrix(int64_t n_in, int64_t n_out) {
  std::vector<double> m(static_cast<size_t>(n_out * n_in), 0.0);
  const double scale = static_cast<double>(n_in) / static_cast<double>(n_out);
  for (int64_t i = 0; i < n_out; ++i) {
    const double src = (static_cast<double>(i) + 0.5) * scale - 0.5;  // not clamped at 0
    const double i0 = std::floor(src), t = src - i0;
    const double w[4] = {cubic_far(t + 1.0), cubic_near(t), cubic_near(1.0 - t), cubic_far(2.0 - t)};
    for (int k = 0; k < 4; ++k) {
      const int64_t j = std::clamp<int64_t>(static_cast<int64_t>(i0) - 1 + k, 0, n_in - 1);
      m[static_cast<size_t>(i * n_in + j)] += w[k];
    }
  }
  return m;
}

Tensor vec_f32(const WeightMap& w, const std::string& name, const Shape& shape, const Shape& as) {
  return w.get(name, shape).to(DType::F32).reshape(as);
}

void gelu_erf(Tensor& x) {
  float* p = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = 0.5f * p[i] * (1.0f + std::erf(p[i] * 0.70710678118654752f));
}

}  // namespace

Tensor clip_bicubic_resize(const Tensor& frame, int64_t S) {
  if (frame.rank() != 3 || frame.dim(0) != 3 || frame.dim(1) < 1 || frame.dim(2) < 1 || S < 1)
    throw Error("CLIP preprocessing: frame has shape " + shape_str(frame.shape()) + ", expected [3, H, W]");
  const int64_t H = frame.dim(1), W = frame.dim(2);
  const std::vector<double> mh = bicubic_matrix(H, S), mw = bicubic_matrix(W, S);
  const std::vector<float> f = frame.to_floats();
  Tensor out = Tensor::empty({3, S, S});  // [3, S, S]
  std::vector<double> rows(static_cast<size_t>(S * W));  // Mh @ frame[c]: [S, W]
  for (int64_t c = 0; c < 3; ++c) {
    std::fill(rows.begin(), rows.end(), 0.0);
    for (int64_t i = 0; i < S; ++i)
      for (int64_t y = 0; y < H; ++y) {
        const double a = mh[static_cast<size_t>(i * H + y)];
        if (a == 0.0) continue;
        for (int64_t x = 0; x < W; ++x) rows[static_cast<size_t>(i * W + x)] += a * f[static_cast<size_t>((c * H + y) * W + x)];
      }
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S; ++j) {
        double acc = 0.0;
        for (int64_t x = 0; x < W; ++x) acc += rows[static_cast<size_t>(i * W + x)] * mw[static_cast<size_t>(j * W + x)];
        out.f32()[(c * S + i) * S + j] = static_cast<float>(acc);
      }
  }
  return out;
}

Tensor clip_normalize(const Tensor& r) {
  Tensor p = Tensor::from_floats(r.to_floats(), r.shape());  // [3, S, S]
  const int64_t plane = r.numel() / 3;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < plane; ++i) {
      float& v = p.f32()[c * plane + i];
      v = static_cast<float>((static_cast<double>(v) * 0.5 + 0.5 - kClipMean[c]) / kClipStd[c]);
    }
  return p;
}

ClipVision::ClipVision(const WeightMap& w, ops::MatmulPrecision precision) : path_(w.path()) {
  ClipVisionConfig& c = config_;
  const TensorInfo& pe = w.info("visual.patch_embedding.weight");  // [D, 3, P, P]
  if (pe.shape.size() != 4 || pe.shape[1] != 3 || pe.shape[2] != pe.shape[3])
    throw Error(path_ + ": tensor 'visual.patch_embedding.weight' has shape " + shape_str(pe.shape) +
                ", expected [D, 3, P, P]");
  c.dim = pe.shape[0];
  c.patch = pe.shape[2];
  const TensorInfo& pos = w.info("visual.pos_embedding");  // [1, N, D]
  if (pos.shape.size() != 3 || pos.shape[0] != 1 || pos.shape[2] != c.dim)
    throw Error(path_ + ": tensor 'visual.pos_embedding' has shape " + shape_str(pos.shape) + ", expected [1, N, " +
                std::to_string(c.dim) + "]");
  const int64_t g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(pos.shape[1] - 1))));
  if (g < 1 || 1 + g * g != pos.shape[1])
    throw Error(path_ + ": tensor 'visual.pos_embedding' has " + std::to_string(pos.shape[1]) +
                " rows, not 1 + a square grid");
  c.image_size = g * c.patch;
  c.layers = 0;
  while (w.has("visual.transformer." + std::to_string(c.layers) + ".attn.to_qkv.weight")) ++c.layers;
  if (c.layers < 1) throw Error(path_ + ": missing tensor 'visual.transformer.0.attn.to_qkv.weight'");
  c.mlp = w.info("visual.transformer.0.mlp.0.weight").shape.at(0);
  c.heads = c.dim % 80 == 0 ? c.dim / 80 : 0;  // ViT-H/14: head dim 80
  if (auto it = w.metadata().find("config"); it != w.metadata().end()) {
    try {
      const nlohmann::json j = nlohmann::json::parse(it->second);
      if (j.contains("vision_heads")) c.heads = j.at("vision_heads").get<int64_t>();
      if (j.contains("norm_eps")) c.eps = j.at("norm_eps").get<float>();
    } catch (const nlohmann::json::exception& e) {
      throw Error(path_ + ": __metadata__.config is not a valid CLIP config (" + e.what() + ")");
    }
  }
  if (c.heads <= 0 || c.dim % c.heads)
    throw Error(path_ + ": cannot split width " + std::to_string(c.dim) + " into " + std::to_string(c.heads) +
                " heads (give vision_heads in __metadata__.config)");
  const int64_t D = c.dim, P = c.patch;
  patch_embedding_ = ops::prepare_linear(
      w.get("visual.patch_embedding.weight", {D, 3, P, P}).reshape({D, 3 * P * P}), Tensor(), precision);
  cls_embedding_ = vec_f32(w, "visual.cls_embedding", {1, 1, D}, {D});
  pos_embedding_ = vec_f32(w, "visual.pos_embedding", {1, c.tokens(), D}, {c.tokens(), D});
  pre_norm_w_ = vec_f32(w, "visual.pre_norm.weight", {D}, {D});
  pre_norm_b_ = vec_f32(w, "visual.pre_norm.bias", {D}, {D});
  post_norm_w_ = vec_f32(w, "visual.post_norm.weight", {D}, {D});
  post_norm_b_ = vec_f32(w, "visual.post_norm.bias", {D}, {D});
  auto lin = [&](const std::string& name, int64_t out, int64_t in) {
    return ops::prepare_linear(w.get(name + ".weight", {out, in}), w.get(name + ".bias", {out}).to(DType::F32),
                               precision);
  };
  for (int64_t n = 0; n < c.layers; ++n) {
    const std::string pre = "visual.transformer." + std::to_string(n) + ".";
    Block b;
    b.norm1_w = vec_f32(w, pre + "norm1.weight", {D}, {D});
    b.norm1_b = vec_f32(w, pre + "norm1.bias", {D}, {D});
    b.norm2_w = vec_f32(w, pre + "norm2.weight", {D}, {D});
    b.norm2_b = vec_f32(w, pre + "norm2.bias", {D}, {D});
    b.to_qkv = lin(pre + "attn.to_qkv", 3 * D, D);
    b.proj = lin(pre + "attn.proj", D, D);
    b.mlp_0 = lin(pre + "mlp.0", c.mlp, D);
    b.mlp_2 = lin(pre + "mlp.2", D, c.mlp);
    blocks_.push_back(std::move(b));
  }
}

Tensor ClipVision::forward(const Tensor& pixels, int64_t blocks, Taps* taps) const {
  const ClipVisionConfig& c = config_;
  const int64_t S = c.image_size, P = c.patch, g = c.grid(), N = c.tokens(), D = c.dim;
  if (blocks < 0) blocks = c.layers - 1;
  if (blocks > c.layers) throw Error(path_ + ": asked for " + std::to_string(blocks) + " blocks of " +
                                     std::to_string(c.layers));
  if (pixels.shape() != Shape{3, S, S})
    throw Error(path_ + ": CLIP pixels have shape " + shape_str(pixels.shape()) + ", expected [3, " +
                std::to_string(S) + ", " + std::to_string(S) + "]");
  const std::vector<float> px = pixels.to_floats();
  Tensor patches = Tensor::empty({g * g, 3 * P * P});  // [g*g, 3*P*P], (c, u, v) order like the conv weight
  for (int64_t i = 0; i < g; ++i)
    for (int64_t j = 0; j < g; ++j)
      for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t u = 0; u < P; ++u)
          for (int64_t v = 0; v < P; ++v)
            patches.f32()[(i * g + j) * 3 * P * P + (ch * P + u) * P + v] =
                px[static_cast<size_t>((ch * S + i * P + u) * S + j * P + v)];
  Tensor emb = Tensor::empty({g * g, D});  // [g*g, D]
  ops::linear(patches, patch_embedding_, emb);
  Tensor x = Tensor::empty({N, D});  // [N, D]: class token first
  std::copy_n(cls_embedding_.f32(), D, x.f32());
  std::copy_n(emb.f32(), g * g * D, x.f32() + D);
  ops::add(x, pos_embedding_);
  ops::layer_norm(x, pre_norm_w_, pre_norm_b_, c.eps, x);
  if (taps) taps->embed = x.clone();

  const int64_t H = c.heads, dh = c.head_dim();
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  Tensor a = Tensor::empty({N, D}), qkv = Tensor::empty({N, 3 * D}), y = Tensor::empty({N, D});
  Tensor q = Tensor::empty({N, H, dh}), k = Tensor::empty({N, H, dh}), v = Tensor::empty({N, H, dh});
  Tensor o = Tensor::empty({N, H, dh}), hidden = Tensor::empty({N, c.mlp});
  for (int64_t n = 0; n < blocks; ++n) {
    const Block& b = blocks_[static_cast<size_t>(n)];
    ops::layer_norm(x, b.norm1_w, b.norm1_b, c.eps, a);          // [N, D]
    ops::linear(a, b.to_qkv, qkv);                                // [N, 3D]: q | k | v thirds
    for (int64_t t = 0; t < N; ++t) {
      std::copy_n(qkv.f32() + t * 3 * D, D, q.f32() + t * D);     // [N, H, dh]
      std::copy_n(qkv.f32() + t * 3 * D + D, D, k.f32() + t * D);
      std::copy_n(qkv.f32() + t * 3 * D + 2 * D, D, v.f32() + t * D);
    }
    ops::attention(q, {ops::KVSegment{k.f32(), v.f32(), nullptr, N}}, scale, o);  // [N, H, dh], no mask
    ops::linear(o.reshape({N, D}), b.proj, y);                    // [N, D]
    ops::add(x, y);
    ops::layer_norm(x, b.norm2_w, b.norm2_b, c.eps, a);          // [N, D]
    ops::linear(a, b.mlp_0, hidden);                              // [N, 4D]
    gelu_erf(hidden);                                             // exact erf GELU
    ops::linear(hidden, b.mlp_2, y);                              // [N, D]
    ops::add(x, y);
    if (taps) taps->block.push_back(x.clone());
  }
  return x;
}

Tensor ClipVision::post_norm(const Tensor& tokens) const {
  Tensor out = tokens.clone();  // [N, D]
  ops::layer_norm(out, post_norm_w_, post_norm_b_, config_.eps, out);
  return out;
}

}  // namespace wl
