// The building blocks the Wan 2.1 VAE's encoder and decoder share
// (specs/encoders.md §3.1, specs/decoders.md §1.2): the channel RMS norm, the
// causal 3D convolution with its two-frame cache, the residual block and the
// per-frame attention block. Sequences are frame-major [T, C, H, W] F32 on
// the CPU; a kt = 3 convolution is one oneDNN 3D convolution over the cached
// frames and the new ones (ops::conv3d_frames), the rest 2D (ops::conv2d).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"
#include "runtime/core/weight_map.h"

namespace wl::wan_vae {

// Frames [first, first + count) of x [T, C, H, W], copied.
Tensor frames_of(const Tensor& x, int64_t first, int64_t count);
// The same frames as a view (no copy; x must outlive it).
Tensor frame_view(const Tensor& x, int64_t first, int64_t count);
// [a; b] along frames.
Tensor concat_frames(const Tensor& a, const Tensor& b);

// RMS_norm over channels per pixel: x / max(||x_c||, 1e-12) * sqrt(C) * gamma[c].
Tensor rms_norm_channels(const Tensor& x, const Tensor& gamma);
// conv2d of every frame; the output allocated here.
Tensor conv(const Tensor& x, const ops::ConvWeight& w);
// A weight as F32, its shape checked (WeightMap::get names the file).
Tensor f32(const WeightMap& w, const std::string& name, const Shape& shape);

// The caches a stream carries: per kt = 3 convolution, its last 2 input
// frames [2, C, H, W] (undefined: zeros, nothing seen yet).
using ConvCaches = std::vector<Tensor>;

// CausalConv3d, kernel [kt, k, k] with kt, k in {1, 3} (3x3x3 with spatial
// padding 1, 3x1x1 time_conv without, 1x1x1 without any). For kt = 3:
// Y[t] = b + sum_dt conv2d(X[t - 2 + dt]; W[:, :, dt]) over the layer's whole
// history, frames before the start zero.
struct CausalConv {
  // kt = 3: one 3D convolution over (cache, x) (ops::conv3d_frames, faster
  // than summing three 2D ones: bench/bench_conv3d.cpp); kt = 1: a 2D one.
  ops::ConvWeight weight;
  int slot = -1;  // index into ConvCaches (kt = 3 only)
  int64_t out_channels() const { return weight.out_channels(); }

  // Loads `name`.weight [out, in, kt, k, k] and .bias [out]; a kt = 3 conv
  // takes the next cache slot (`slots` counts them).
  static CausalConv load(const WeightMap& w, const std::string& name, int64_t out, int64_t in, int64_t kt, int64_t k,
                         int& slots);
  // x [n, in, H, W] -> [n, out, H', W']; caches[slot] is read and replaced by
  // the last 2 frames of (cache, x). `where` names the file in errors.
  Tensor apply(const Tensor& x, ConvCaches& caches, const std::string& where) const;
};

// ResidualBlock(in, out), prefix P: shortcut (1x1x1, only if in != out) +
// conv6(silu(norm3(conv2(silu(norm0(x)))))).
struct ResidualBlock {
  Tensor gamma0, gamma3;  // [in], [out]
  CausalConv conv2, conv6;
  bool has_shortcut = false;
  CausalConv shortcut;

  static ResidualBlock load(const WeightMap& w, const std::string& prefix, int64_t in, int64_t out, int& slots);
  Tensor apply(const Tensor& x, ConvCaches& caches, const std::string& where) const;  // [n, in, H, W] -> [n, out, H, W]
};

// AttentionBlock(C): per frame, one head of width C over the H*W tokens
// (row-major), x + proj(softmax(q k^T / sqrt C) v); no cache.
struct AttentionBlock {
  Tensor gamma;                   // [C]
  ops::ConvWeight to_qkv, proj;   // 1x1: [3C, C], [C, C]

  static AttentionBlock load(const WeightMap& w, const std::string& prefix, int64_t channels);
  Tensor apply(const Tensor& x) const;  // [n, C, H, W] -> [n, C, H, W]
};

}  // namespace wl::wan_vae
