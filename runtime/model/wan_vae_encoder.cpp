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

using namespace wan_vae;

namespace {

// A 3x1x1 time_conv's taps as 1x1 2D convolutions, the bias on tap 0.
std::vector<ops::ConvWeight> time_taps(const Tensor& w5, const Tensor& bias) {
  std::vector<ops::ConvWeight> taps;
  const int64_t O = w5.dim(0), I = w5.dim(1);
  for (int64_t dt = 0; dt < 3; ++dt) {
    Tensor tap = Tensor::empty({O, I, 1, 1});  // [O, I, 1, 1]
    for (int64_t oi = 0; oi < O * I; ++oi) tap.f32()[oi] = w5.f32()[oi * 3 + dt];
    taps.push_back(ops::prepare_conv2d(tap, dt == 0 ? bias : Tensor(), 1, 0));
  }
  return taps;
}

}  // namespace

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

  conv1_ = CausalConv::load(w, e + "conv1", d, 3, 3, 3, conv_slots_);
  int index = 0;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t in = widths[stage], out = widths[stage + 1];
    for (int r = 0; r < 2; ++r) {
      Stage s;
      s.res = ResidualBlock::load(w, e + "downsamples." + std::to_string(index++) + ".", r == 0 ? in : out, out, conv_slots_);
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
      s.down.time_taps = time_taps(f32(w, p + "time_conv.weight", {out, out, 3, 1, 1}), f32(w, p + "time_conv.bias", {out}));
      s.down.slot = time_slots_++;
    }
    downsamples_.push_back(std::move(s));
  }
  const int64_t m = widths[4];
  middle0_ = ResidualBlock::load(w, e + "middle.0.", m, m, conv_slots_);
  middle1_ = AttentionBlock::load(w, e + "middle.1.", m);
  middle2_ = ResidualBlock::load(w, e + "middle.2.", m, m, conv_slots_);
  head_gamma_ = f32(w, e + "head.0.gamma", {m, 1, 1, 1}).reshape({m});
  head2_ = CausalConv::load(w, e + "head.2", 2 * z_dim_, m, 3, 3, conv_slots_);
  out_conv1_ = CausalConv::load(w, "conv1", 2 * z_dim_, 2 * z_dim_, 1, 1, conv_slots_);
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
  Tensor x = conv1_.apply(x0, s.conv, path_);  // [n, d, H, W]
  tap("conv1", x);
  for (size_t i = 0; i < downsamples_.size(); ++i) {
    const Stage& st = downsamples_[i];
    x = st.is_resample ? apply(st.down, x, s) : st.res.apply(x, s.conv, path_);
    tap("downsamples." + std::to_string(i), x);
  }
  x = middle0_.apply(x, s.conv, path_);  // [1, 4d, H/8, W/8]
  x = middle1_.apply(x);
  x = middle2_.apply(x, s.conv, path_);
  tap("middle", x);
  x = rms_norm_channels(x, head_gamma_);
  ops::silu(x);
  x = head2_.apply(x, s.conv, path_);  // [1, 2z, H/8, W/8]
  tap("head.2", x);
  ++s.calls;
  return out_conv1_.apply(x, s.conv, path_);
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
