// specs/decoders.md §1.2 and specs/encoders.md §3.1.
#include "runtime/model/wan_vae_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/core/error.h"

namespace wl::wan_vae {

Tensor frames_of(const Tensor& x, int64_t first, int64_t count) {
  const int64_t per = x.numel() / x.dim(0);
  Tensor out = Tensor::empty({count, x.dim(1), x.dim(2), x.dim(3)});  // [count, C, H, W]
  std::memcpy(out.f32(), x.f32() + first * per, static_cast<size_t>(count * per) * sizeof(float));
  return out;
}

Tensor frame_view(const Tensor& x, int64_t first, int64_t count) {
  const int64_t per = x.numel() / x.dim(0);
  return Tensor::view(const_cast<float*>(x.f32()) + first * per, {count, x.dim(1), x.dim(2), x.dim(3)}, DType::F32,
                      nullptr);  // [count, C, H, W]
}

Tensor concat_frames(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty({a.dim(0) + b.dim(0), a.dim(1), a.dim(2), a.dim(3)});  // [Ta + Tb, C, H, W]
  std::memcpy(out.f32(), a.f32(), a.nbytes());
  std::memcpy(out.f32() + a.numel(), b.f32(), b.nbytes());
  return out;
}

Tensor rms_norm_channels(const Tensor& x, const Tensor& gamma) {
  const int64_t T = x.dim(0), C = x.dim(1), P = x.dim(2) * x.dim(3);
  Tensor y = Tensor::empty(x.shape());  // [T, C, H, W]
  const float root_c = std::sqrt(static_cast<float>(C));
  const float* g = gamma.f32();
#pragma omp parallel for schedule(static) if (T * C * P > 65536)
  for (int64_t tp = 0; tp < T * P; ++tp) {
    const int64_t t = tp / P, p = tp % P;
    const float* in = x.f32() + t * C * P + p;
    float* out = y.f32() + t * C * P + p;
    double ss = 0.0;
    for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(in[c * P]) * in[c * P];
    const float inv = root_c / static_cast<float>(std::max(std::sqrt(ss), 1e-12));
    for (int64_t c = 0; c < C; ++c) out[c * P] = in[c * P] * inv * g[c];
  }
  return y;
}

Tensor conv(const Tensor& x, const ops::ConvWeight& w) {
  const int64_t kh = w.weight.dim(2), kw = w.weight.dim(3);
  Tensor y = Tensor::empty({x.dim(0), w.out_channels(), (x.dim(2) + 2 * w.padding - kh) / w.stride + 1,
                            (x.dim(3) + 2 * w.padding - kw) / w.stride + 1});  // [T, O, Ho, Wo]
  ops::conv2d(x, w, y);
  return y;
}

Tensor f32(const WeightMap& w, const std::string& name, const Shape& shape) {
  return w.get(name, shape).to(DType::F32);
}

namespace {

// Time tap dt of a [O, I, kt, kh, kw] weight as a 2D conv weight [O, I, kh, kw].
Tensor time_tap(const Tensor& w5, int64_t dt) {
  const int64_t O = w5.dim(0), I = w5.dim(1), kt = w5.dim(2), kh = w5.dim(3), kw = w5.dim(4);
  Tensor out = Tensor::empty({O, I, kh, kw});  // [O, I, kh, kw]
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i)
      std::memcpy(out.f32() + (o * I + i) * kh * kw, w5.f32() + ((o * I + i) * kt + dt) * kh * kw,
                  static_cast<size_t>(kh * kw) * sizeof(float));
  return out;
}

}  // namespace

CausalConv CausalConv::load(const WeightMap& w, const std::string& name, int64_t out, int64_t in, int64_t kt,
                            int64_t k, int& slots) {
  const Tensor w5 = f32(w, name + ".weight", {out, in, kt, k, k});  // [out, in, kt, k, k]
  const Tensor bias = f32(w, name + ".bias", {out});                // [out]
  CausalConv c;
  const int padding = k == 3 ? 1 : 0;
  if (kt == 3) {
    c.weight = ops::prepare_conv3d(w5, bias, padding);
    c.slot = slots++;
  } else {
    c.weight = ops::prepare_conv2d(time_tap(w5, 0), bias, 1, padding);  // [out, in, k, k]
  }
  return c;
}

Tensor CausalConv::apply(const Tensor& x, ConvCaches& caches, const std::string& where) const {
  if (slot < 0) return conv(x, weight);  // 1x1x1
  Tensor& cache = caches.at(static_cast<size_t>(slot));
  if (!cache.defined()) cache = Tensor::zeros({2, x.dim(1), x.dim(2), x.dim(3)});  // [2, C, H, W]
  if (cache.dim(1) != x.dim(1) || cache.dim(2) != x.dim(2) || cache.dim(3) != x.dim(3))
    throw Error(where + ": a stream's frames changed size from " + shape_str(cache.shape()) + " to " +
                shape_str(x.shape()));
  const int64_t n = x.dim(0);
  const Tensor seq = concat_frames(cache, x);  // [n + 2, C, H, W]
  const int64_t kh = weight.weight.dim(3), kw = weight.weight.dim(4);
  Tensor y = Tensor::empty({n, weight.out_channels(), x.dim(2) + 2 * weight.padding - kh + 1,
                            x.dim(3) + 2 * weight.padding - kw + 1});  // [n, O, H', W']
  ops::conv3d_frames(seq, weight, y);
  cache = frames_of(seq, n, 2);
  return y;
}

ResidualBlock ResidualBlock::load(const WeightMap& w, const std::string& p, int64_t in, int64_t out, int& slots) {
  ResidualBlock b;
  b.gamma0 = f32(w, p + "residual.0.gamma", {in, 1, 1, 1}).reshape({in});
  b.conv2 = CausalConv::load(w, p + "residual.2", out, in, 3, 3, slots);
  b.gamma3 = f32(w, p + "residual.3.gamma", {out, 1, 1, 1}).reshape({out});
  b.conv6 = CausalConv::load(w, p + "residual.6", out, out, 3, 3, slots);
  b.has_shortcut = in != out;
  if (b.has_shortcut) b.shortcut = CausalConv::load(w, p + "shortcut", out, in, 1, 1, slots);
  return b;
}

Tensor ResidualBlock::apply(const Tensor& x, ConvCaches& caches, const std::string& where) const {
  const Tensor h = has_shortcut ? shortcut.apply(x, caches, where) : x;  // [n, out, H, W]
  Tensor a = rms_norm_channels(x, gamma0);                              // [n, in, H, W]
  ops::silu(a);
  a = conv2.apply(a, caches, where);                                     // [n, out, H, W]
  a = rms_norm_channels(a, gamma3);
  ops::silu(a);
  a = conv6.apply(a, caches, where);                                     // [n, out, H, W]
  ops::add(a, h);
  return a;
}

AttentionBlock AttentionBlock::load(const WeightMap& w, const std::string& p, int64_t m) {
  AttentionBlock a;
  a.gamma = f32(w, p + "norm.gamma", {m, 1, 1}).reshape({m});
  a.to_qkv = ops::prepare_conv2d(f32(w, p + "to_qkv.weight", {3 * m, m, 1, 1}), f32(w, p + "to_qkv.bias", {3 * m}), 1, 0);
  a.proj = ops::prepare_conv2d(f32(w, p + "proj.weight", {m, m, 1, 1}), f32(w, p + "proj.bias", {m}), 1, 0);
  return a;
}

Tensor AttentionBlock::apply(const Tensor& x) const {
  const int64_t T = x.dim(0), C = x.dim(1), P = x.dim(2) * x.dim(3);
  const Tensor qkv = conv(rms_norm_channels(x, gamma), to_qkv);  // [T, 3C, h, w]
  Tensor o_all = Tensor::empty({T, C, x.dim(2), x.dim(3)});      // [T, C, h, w]
  Tensor q = Tensor::empty({P, 1, C}), k = Tensor::empty({P, 1, C}), v = Tensor::empty({P, 1, C}),
         o = Tensor::empty({P, 1, C});  // [P, 1 head, C] each
  for (int64_t t = 0; t < T; ++t) {  // one head of width C per frame, tokens i*w + j
    const float* src = qkv.f32() + t * 3 * C * P;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < P; ++p) {
        q.f32()[p * C + c] = src[c * P + p];
        k.f32()[p * C + c] = src[(C + c) * P + p];
        v.f32()[p * C + c] = src[(2 * C + c) * P + p];
      }
    ops::attention(q, {ops::KVSegment{k.f32(), v.f32(), nullptr, P}}, 1.0f / std::sqrt(static_cast<float>(C)), o);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < P; ++p) o_all.f32()[(t * C + c) * P + p] = o.f32()[p * C + c];
  }
  Tensor y = conv(o_all, proj);  // [T, C, h, w]
  ops::add(y, x);
  return y;
}

}  // namespace wl::wan_vae
