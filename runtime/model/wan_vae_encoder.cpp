// specs/encoders.md §3.1 (blocks), §3.2 (layer order, caches), §3.3 (streaming), §3.4 (normalisation).
#include "runtime/model/wan_vae_encoder.h"

#include <cmath>
#include <cstring>

#include "runtime/core/error.h"

namespace wl {

const float kWanLatentMean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f,  -0.1745f, 0.9653f,  -0.1517f, 1.5508f,
                                  0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
const float kWanLatentStd[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                 3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

namespace {

Tensor f32(const WeightMap& w, const std::string& name, const Shape& shape) {
  return w.get(name, shape).to(DType::F32);
}

// Frames [first, first + count) of x [T, C, H, W], copied.
Tensor frames_of(const Tensor& x, int64_t first, int64_t count) {
  const int64_t per = x.numel() / x.dim(0);
  Tensor out = Tensor::empty({count, x.dim(1), x.dim(2), x.dim(3)});  // [count, C, H, W]
  std::memcpy(out.f32(), x.f32() + first * per, static_cast<size_t>(count * per) * sizeof(float));
  return out;
}

// Frames [first, first + count) of x, as a view (no copy; x must outlive it).
Tensor frame_view(const Tensor& x, int64_t first, int64_t count) {
  const int64_t per = x.numel() / x.dim(0);
  return Tensor::view(const_cast<float*>(x.f32()) + first * per, {count, x.dim(1), x.dim(2), x.dim(3)}, DType::F32,
                      nullptr);  // [count, C, H, W]
}

// [a; b] along frames.
Tensor concat_frames(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty({a.dim(0) + b.dim(0), a.dim(1), a.dim(2), a.dim(3)});  // [Ta + Tb, C, H, W]
  std::memcpy(out.f32(), a.f32(), a.nbytes());
  std::memcpy(out.f32() + a.numel(), b.f32(), b.nbytes());
  return out;
}

// RMS_norm over channels per pixel: x / max(||x_c||, 1e-12) * sqrt(C) * gamma.
Tensor rms_norm_channels(const Tensor& x, const Tensor& gamma) {
  const int64_t T = x.dim(0), C = x.dim(1), P = x.dim(2) * x.dim(3);
  Tensor y = Tensor::empty(x.shape());  // [T, C, H, W]
  const float root_c = std::sqrt(static_cast<float>(C));
  for (int64_t t = 0; t < T; ++t) {
    const float* in = x.f32() + t * C * P;
    float* out = y.f32() + t * C * P;
    for (int64_t p = 0; p < P; ++p) {
      double ss = 0.0;
      for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(in[c * P + p]) * in[c * P + p];
      const float inv = root_c / static_cast<float>(std::max(std::sqrt(ss), 1e-12));
      for (int64_t c = 0; c < C; ++c) out[c * P + p] = in[c * P + p] * inv * gamma.f32()[c];
    }
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

std::vector<ops::ConvWeight> time_taps(const Tensor& w5, const Tensor& bias, int padding) {
  std::vector<ops::ConvWeight> taps;
  for (int64_t dt = 0; dt < w5.dim(2); ++dt)
    taps.push_back(ops::prepare_conv2d(time_tap(w5, dt), dt == 0 ? bias : Tensor(), 1, padding));
  return taps;
}

}  // namespace

WanVaeEncoder::CausalConv WanVaeEncoder::load_causal(const WeightMap& w, const std::string& name, int64_t out,
                                                     int64_t in, int64_t kt) {
  const int64_t k = kt == 3 ? 3 : 1;
  CausalConv c;
  c.taps = time_taps(f32(w, name + ".weight", {out, in, kt, k, k}), f32(w, name + ".bias", {out}), kt == 3 ? 1 : 0);
  if (kt == 3) c.slot = conv_slots_++;
  return c;
}

WanVaeEncoder::ResBlock WanVaeEncoder::load_res(const WeightMap& w, const std::string& p, int64_t in, int64_t out) {
  ResBlock b;
  b.gamma0 = f32(w, p + "residual.0.gamma", {in, 1, 1, 1}).reshape({in});
  b.conv2 = load_causal(w, p + "residual.2", out, in, 3);
  b.gamma3 = f32(w, p + "residual.3.gamma", {out, 1, 1, 1}).reshape({out});
  b.conv6 = load_causal(w, p + "residual.6", out, out, 3);
  b.has_shortcut = in != out;
  if (b.has_shortcut) b.shortcut = load_causal(w, p + "shortcut", out, in, 1);
  return b;
}

WanVaeEncoder::WanVaeEncoder(const WeightMap& w) : path_(w.path()) {
  const std::string e = "encoder.";
  if (!w.has(e + "conv1.weight"))
    throw Error(path_ + ": missing tensor 'encoder.conv1.weight' (not a Wan 2.1 VAE with its encoder)");
  const Shape& s1 = w.info(e + "conv1.weight").shape;  // [d, 3, 3, 3, 3]
  if (s1.size() != 5 || s1[1] != 3 || s1[0] < 1)
    throw Error(path_ + ": tensor 'encoder.conv1.weight' has shape " + shape_str(s1) + ", expected [d, 3, 3, 3, 3]");
  dim_ = s1[0];
  const Shape& sh = w.info(e + "head.2.weight").shape;  // [2 z, 4d, 3, 3, 3]
  if (sh.empty() || sh[0] % 2) throw Error(path_ + ": tensor 'encoder.head.2.weight' has shape " + shape_str(sh) +
                                           ", expected [2 z_dim, 4d, 3, 3, 3]");
  z_dim_ = sh[0] / 2;
  if (z_dim_ != 16)
    throw Error(path_ + ": z_dim " + std::to_string(z_dim_) + " (Wan 2.1's latent normalisation has 16 channels)");
  const int64_t d = dim_;
  const int64_t widths[5] = {d, d, 2 * d, 4 * d, 4 * d};
  const bool temporal[3] = {false, true, true};

  conv1_ = load_causal(w, e + "conv1", d, 3, 3);
  int index = 0;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t in = widths[stage], out = widths[stage + 1];
    for (int r = 0; r < 2; ++r) {
      Stage s;
      s.res = load_res(w, e + "downsamples." + std::to_string(index++) + ".", r == 0 ? in : out, out);
      downsamples_.push_back(std::move(s));
    }
    if (stage == 3) break;
    const std::string p = e + "downsamples." + std::to_string(index++) + ".";
    Stage s;
    s.is_resample = true;
    s.down.spatial = ops::prepare_conv2d(f32(w, p + "resample.1.weight", {out, out, 3, 3}),
                                         f32(w, p + "resample.1.bias", {out}), 2, 0);
    s.down.temporal = temporal[stage];
    if (s.down.temporal) {
      s.down.time_taps = time_taps(f32(w, p + "time_conv.weight", {out, out, 3, 1, 1}), f32(w, p + "time_conv.bias", {out}), 0);
      s.down.slot = time_slots_++;
    }
    downsamples_.push_back(std::move(s));
  }
  const int64_t m = widths[4];
  middle0_ = load_res(w, e + "middle.0.", m, m);
  middle1_.gamma = f32(w, e + "middle.1.norm.gamma", {m, 1, 1}).reshape({m});
  middle1_.to_qkv = ops::prepare_conv2d(f32(w, e + "middle.1.to_qkv.weight", {3 * m, m, 1, 1}),
                                        f32(w, e + "middle.1.to_qkv.bias", {3 * m}), 1, 0);
  middle1_.proj = ops::prepare_conv2d(f32(w, e + "middle.1.proj.weight", {m, m, 1, 1}),
                                      f32(w, e + "middle.1.proj.bias", {m}), 1, 0);
  middle2_ = load_res(w, e + "middle.2.", m, m);
  head_gamma_ = f32(w, e + "head.0.gamma", {m, 1, 1, 1}).reshape({m});
  head2_ = load_causal(w, e + "head.2", 2 * z_dim_, m, 3);
  out_conv1_ = load_causal(w, "conv1", 2 * z_dim_, 2 * z_dim_, 1);
}

// Y[t] = b + sum_dt conv2d(X[t - 2 + dt]; W[:, :, dt]) over this layer's whole history.
Tensor WanVaeEncoder::apply(const CausalConv& c, const Tensor& x, Stream& s) const {
  if (c.slot < 0) return conv(x, c.taps[0]);  // 1x1x1
  Tensor& cache = s.conv[static_cast<size_t>(c.slot)];
  if (!cache.defined()) cache = Tensor::zeros({2, x.dim(1), x.dim(2), x.dim(3)});  // [2, C, H, W]
  if (cache.dim(1) != x.dim(1) || cache.dim(2) != x.dim(2) || cache.dim(3) != x.dim(3))
    throw Error(path_ + ": a stream's frames changed size from " + shape_str(cache.shape()) + " to " +
                shape_str(x.shape()));
  const int64_t n = x.dim(0);
  const Tensor seq = concat_frames(cache, x);  // [n + 2, C, H, W]
  Tensor y = conv(frame_view(seq, 0, n), c.taps[0]);  // [n, O, H, W], with the bias
  for (int64_t dt = 1; dt < 3; ++dt) ops::add(y, conv(frame_view(seq, dt, n), c.taps[static_cast<size_t>(dt)]));
  cache = frames_of(seq, n, 2);
  return y;
}

Tensor WanVaeEncoder::apply(const ResBlock& b, const Tensor& x, Stream& s) const {
  const Tensor h = b.has_shortcut ? apply(b.shortcut, x, s) : x;  // [n, out, H, W]
  Tensor a = rms_norm_channels(x, b.gamma0);                      // [n, in, H, W]
  ops::silu(a);
  a = apply(b.conv2, a, s);                                        // [n, out, H, W]
  a = rms_norm_channels(a, b.gamma3);
  ops::silu(a);
  a = apply(b.conv6, a, s);                                        // [n, out, H, W]
  ops::add(a, h);
  return a;
}

Tensor WanVaeEncoder::apply(const Downsample& d, const Tensor& x, Stream& s) const {
  const int64_t n = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor padded = Tensor::zeros({n, C, H + 1, W + 1});  // [n, C, H+1, W+1]: one zero row below, one column right
  for (int64_t f = 0; f < n * C; ++f)
    for (int64_t r = 0; r < H; ++r)
      std::memcpy(padded.f32() + (f * (H + 1) + r) * (W + 1), x.f32() + (f * H + r) * W, static_cast<size_t>(W) * sizeof(float));
  Tensor y = conv(padded, d.spatial);  // [n, C, (H-2)/2+1, (W-2)/2+1]
  if (!d.temporal) return y;

  Tensor& cache = s.time[static_cast<size_t>(d.slot)];
  std::vector<Tensor> out;
  int64_t first = 0;
  if (!cache.defined()) {  // the stream's first frame skips time_conv
    out.push_back(frames_of(y, 0, 1));
    cache = frames_of(y, 0, 1);
    first = 1;
  }
  const int64_t rest = n - first;
  if (rest % 2)
    throw Error(path_ + ": downsample3d got " + std::to_string(rest) + " frames after the first; calls after the "
                "first must bring 4 frames");
  if (rest > 0) {
    const Tensor seq = concat_frames(cache, frame_view(y, first, rest));  // [rest + 1, C, h, w]
    for (int64_t k = 0; k < rest / 2; ++k) {
      Tensor z = conv(frame_view(seq, 2 * k, 1), d.time_taps[0]);  // [1, C, h, w], with the bias
      for (int64_t dt = 1; dt < 3; ++dt) ops::add(z, conv(frame_view(seq, 2 * k + dt, 1), d.time_taps[static_cast<size_t>(dt)]));
      out.push_back(std::move(z));
    }
    cache = frames_of(y, n - 1, 1);
  }
  Tensor z = out[0];
  for (size_t i = 1; i < out.size(); ++i) z = concat_frames(z, out[i]);
  return z;  // [n_out, C, h, w]
}

Tensor WanVaeEncoder::apply(const Attention& a, const Tensor& x) const {
  const int64_t T = x.dim(0), C = x.dim(1), P = x.dim(2) * x.dim(3);
  const Tensor qkv = conv(rms_norm_channels(x, a.gamma), a.to_qkv);  // [T, 3C, h, w]
  Tensor o_all = Tensor::empty({T, C, x.dim(2), x.dim(3)});          // [T, C, h, w]
  Tensor q = Tensor::empty({P, 1, C}), k = Tensor::empty({P, 1, C}), v = Tensor::empty({P, 1, C}), o = Tensor::empty({P, 1, C});
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
  Tensor y = conv(o_all, a.proj);  // [T, C, h, w]
  ops::add(y, x);
  return y;
}

Tensor WanVaeEncoder::encode_call(const Tensor& frames, Stream& s, Taps* taps) const {
  if (frames.rank() != 4 || frames.dim(1) != 3 || frames.dim(0) < 1 || frames.dim(2) < 8 || frames.dim(3) < 8)
    throw Error(path_ + ": VAE encoder frames have shape " + shape_str(frames.shape()) + ", expected [n, 3, H, W] with H, W >= 8");
  const int64_t want = s.calls == 0 ? 1 : 4;
  if (frames.dim(0) != want)
    throw Error(path_ + ": VAE encoder call " + std::to_string(s.calls) + " got " + std::to_string(frames.dim(0)) +
                " frames; the first call takes 1 frame and every later call 4");
  if (s.conv.empty()) s.conv.resize(static_cast<size_t>(conv_slots_));
  if (s.time.empty()) s.time.resize(static_cast<size_t>(time_slots_));
  const Tensor x0 = frames.dtype() == DType::F32 ? frames : frames.to(DType::F32);
  auto tap = [&](const std::string& name, const Tensor& t) {
    if (taps) (*taps)[name] = t.clone();
  };
  Tensor x = apply(conv1_, x0, s);  // [n, d, H, W]
  tap("conv1", x);
  for (size_t i = 0; i < downsamples_.size(); ++i) {
    const Stage& st = downsamples_[i];
    x = st.is_resample ? apply(st.down, x, s) : apply(st.res, x, s);
    tap("downsamples." + std::to_string(i), x);
  }
  x = apply(middle0_, x, s);  // [1, 4d, H/8, W/8]
  x = apply(middle1_, x);
  x = apply(middle2_, x, s);
  tap("middle", x);
  x = rms_norm_channels(x, head_gamma_);
  ops::silu(x);
  x = apply(head2_, x, s);  // [1, 2z, H/8, W/8]
  tap("head.2", x);
  ++s.calls;
  return apply(out_conv1_, x, s);
}

Tensor WanVaeEncoder::latents_of(const Tensor& raw) const {
  const int64_t n = raw.dim(0), Z = z_dim_, P = raw.dim(2) * raw.dim(3);
  Tensor latents = Tensor::empty({n, Z, raw.dim(2), raw.dim(3)});  // [n, Z, h, w]
  for (int64_t k = 0; k < n; ++k)
    for (int64_t c = 0; c < Z; ++c)
      for (int64_t p = 0; p < P; ++p)
        latents.f32()[(k * Z + c) * P + p] = (raw.f32()[(k * 2 * Z + c) * P + p] - kWanLatentMean[c]) / kWanLatentStd[c];
  return latents;
}

Tensor WanVaeEncoder::encode(const Tensor& video, Tensor* mu_out, Tensor* logvar_out, std::vector<Taps>* taps) const {
  if (video.rank() != 4 || video.dim(0) < 1 || video.dim(1) != 3)
    throw Error(path_ + ": video has shape " + shape_str(video.shape()) + ", expected [T, 3, H, W]");
  const Tensor v = video.dtype() == DType::F32 ? video : video.to(DType::F32);
  const int64_t calls = 1 + (v.dim(0) - 1) / 4;
  Stream s;
  Tensor raw;  // [F, 2Z, h, w]
  for (int64_t k = 0; k < calls; ++k) {
    Taps* call_taps = taps ? &taps->emplace_back() : nullptr;
    const Tensor r = encode_call(k == 0 ? frames_of(v, 0, 1) : frames_of(v, 4 * k - 3, 4), s, call_taps);
    raw = raw.defined() ? concat_frames(raw, r) : r;
  }
  const int64_t Z = z_dim_, P = raw.dim(2) * raw.dim(3);
  if (mu_out || logvar_out) {
    Tensor mu = Tensor::empty({calls, Z, raw.dim(2), raw.dim(3)}), logvar = Tensor::empty({calls, Z, raw.dim(2), raw.dim(3)});
    for (int64_t k = 0; k < calls; ++k) {
      std::memcpy(mu.f32() + k * Z * P, raw.f32() + k * 2 * Z * P, static_cast<size_t>(Z * P) * sizeof(float));
      std::memcpy(logvar.f32() + k * Z * P, raw.f32() + (k * 2 + 1) * Z * P, static_cast<size_t>(Z * P) * sizeof(float));
    }
    if (mu_out) *mu_out = mu;
    if (logvar_out) *logvar_out = logvar;
  }
  return latents_of(raw);
}

}  // namespace wl
