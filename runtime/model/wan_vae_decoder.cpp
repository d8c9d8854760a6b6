// specs/decoders.md §1.1 (de-normalisation), §1.2 (blocks, the first-frame
// rule), §1.3 (layer order), §1.4 (streaming).
#include "runtime/model/wan_vae_decoder.h"

#include <algorithm>
#include <cstring>

#include "runtime/core/error.h"
#include "runtime/model/wan_vae_encoder.h"  // kWanLatentMean / kWanLatentStd

namespace wl {

using namespace wan_vae;

VaeStreamSemantics parse_vae_semantics(const std::string& name, const std::string& what) {
  if (name == "pipeline") return VaeStreamSemantics::Pipeline;
  if (name == "demo") return VaeStreamSemantics::Demo;
  throw Error(what + ": VAE stream semantics '" + name + "' is not pipeline or demo");
}

const char* vae_semantics_name(VaeStreamSemantics s) {
  return s == VaeStreamSemantics::Pipeline ? "pipeline" : "demo";
}

WanVaeDecoder::WanVaeDecoder(const WeightMap& w) : path_(w.path()) {
  const std::string e = "decoder.";
  for (const char* key : {"conv2.weight", "decoder.conv1.weight", "decoder.head.2.weight"})
    if (!w.has(key)) throw Error(path_ + ": missing tensor '" + key + "' (not a Wan 2.1 VAE with its decoder)");
  const Shape& sh = w.info(e + "head.2.weight").shape;  // [3, d, 3, 3, 3]
  if (sh.size() != 5 || sh[0] != 3 || sh[1] < 1)
    throw Error(path_ + ": tensor 'decoder.head.2.weight' has shape " + shape_str(sh) + ", expected [3, d, 3, 3, 3]");
  dim_ = sh[1];
  const Shape& s2 = w.info("conv2.weight").shape;  // [z, z, 1, 1, 1]
  if (s2.empty()) throw Error(path_ + ": tensor 'conv2.weight' has no shape");
  z_dim_ = s2[0];
  if (z_dim_ != 16)
    throw Error(path_ + ": z_dim " + std::to_string(z_dim_) + " (Wan 2.1's latent normalisation has 16 channels)");
  const int64_t d = dim_, z = z_dim_;

  conv2_ = CausalConv::load(w, "conv2", z, z, 1, 1, conv_slots_);
  conv1_ = CausalConv::load(w, e + "conv1", 4 * d, z, 3, 3, conv_slots_);
  middle0_ = ResidualBlock::load(w, e + "middle.0.", 4 * d, 4 * d, conv_slots_);
  middle1_ = AttentionBlock::load(w, e + "middle.1.", 4 * d);
  middle2_ = ResidualBlock::load(w, e + "middle.2.", 4 * d, 4 * d, conv_slots_);
  // Decoder3d with dim_mult [1, 2, 4, 4]: stages of 3 residual blocks, each
  // but the last followed by an upsample that halves the channels; the
  // stages after the first start from the halved width.
  const int64_t dims[5] = {4 * d, 4 * d, 4 * d, 2 * d, d};
  int index = 0;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t in = stage == 0 ? dims[0] : dims[stage] / 2, out = dims[stage + 1];
    for (int r = 0; r < 3; ++r) {
      Stage s;
      s.res = ResidualBlock::load(w, e + "upsamples." + std::to_string(index++) + ".", r == 0 ? in : out, out,
                                  conv_slots_);
      upsamples_.push_back(std::move(s));
    }
    if (stage == 3) break;
    const std::string p = e + "upsamples." + std::to_string(index++) + ".";
    Stage s;
    s.is_upsample = true;
    s.up.temporal = w.has(p + "time_conv.weight");  // temperal_upsample, read from the weights
    if (s.up.temporal) s.up.time_conv = CausalConv::load(w, p + "time_conv", 2 * out, out, 3, 1, conv_slots_);
    s.up.resample = ops::prepare_conv2d(f32(w, p + "resample.1.weight", {out / 2, out, 3, 3}),
                                        f32(w, p + "resample.1.bias", {out / 2}), 1, 1);
    upsamples_.push_back(std::move(s));
  }
  head_gamma_ = f32(w, e + "head.0.gamma", {d, 1, 1, 1}).reshape({d});
  head2_ = CausalConv::load(w, e + "head.2", 3, d, 3, 3, conv_slots_);
}

Tensor WanVaeDecoder::apply(const Upsample& u, const Tensor& x, Stream& s) const {
  Tensor frames = x;  // [n, C, h, w]
  // The pipeline's first latent frame skips time_conv (and leaves its cache
  // at zeros); otherwise time_conv doubles the channels and each frame's two
  // halves become two consecutive frames: [n, 2C, h, w] is [2n, C, h, w].
  if (u.temporal && !(s.semantics == VaeStreamSemantics::Pipeline && s.calls == 0)) {
    frames = u.time_conv.apply(x, s.conv, path_);                             // [n, 2C, h, w]
    frames = frames.reshape({2 * x.dim(0), x.dim(1), x.dim(2), x.dim(3)});    // [2n, C, h, w]
  }
  Tensor up = Tensor::empty({frames.dim(0), frames.dim(1), 2 * frames.dim(2), 2 * frames.dim(3)});  // [T, C, 2h, 2w]
  ops::upsample_nearest_2x(frames, up);
  return conv(up, u.resample);  // [T, C/2, 2h, 2w]
}

Tensor WanVaeDecoder::decode_call(const Tensor& latent, Stream& s, Taps* taps) const {
  if (latent.rank() != 4 || latent.dim(0) != 1 || latent.dim(1) != z_dim_ || latent.dim(2) < 1 || latent.dim(3) < 1)
    throw Error(path_ + ": a VAE decoder call takes one latent frame [1, " + std::to_string(z_dim_) +
                ", h, w], got " + shape_str(latent.shape()));
  if (s.conv.empty()) s.conv.resize(static_cast<size_t>(conv_slots_));
  auto tap = [&](const std::string& name, const Tensor& t) {
    if (taps) (*taps)[name] = t.clone();
  };
  const int64_t P = latent.dim(2) * latent.dim(3);
  Tensor zd = latent.to(DType::F32);  // [1, z, h, w] (a copy): z = zn * std + mean
  for (int64_t c = 0; c < z_dim_; ++c)
    for (int64_t p = 0; p < P; ++p) zd.f32()[c * P + p] = zd.f32()[c * P + p] * kWanLatentStd[c] + kWanLatentMean[c];
  tap("z_denorm", zd);
  Tensor x = conv2_.apply(zd, s.conv, path_);  // [1, z, h, w]
  x = conv1_.apply(x, s.conv, path_);          // [1, 4d, h, w]
  tap("conv1", x);
  x = middle0_.apply(x, s.conv, path_);
  x = middle1_.apply(x);
  x = middle2_.apply(x, s.conv, path_);        // [1, 4d, h, w]
  tap("middle", x);
  for (size_t i = 0; i < upsamples_.size(); ++i) {
    const Stage& st = upsamples_[i];
    x = st.is_upsample ? apply(st.up, x, s) : st.res.apply(x, s.conv, path_);  // up to [4, d, 8h, 8w]
    tap("upsamples." + std::to_string(i), x);
  }
  x = rms_norm_channels(x, head_gamma_);
  ops::silu(x);
  x = head2_.apply(x, s.conv, path_);  // [F, 3, 8h, 8w]
  tap("head.2", x);
  ++s.calls;
  return x;
}

Tensor WanVaeDecoder::decode(const Tensor& latents, Stream& s, Tensor* raw) const {
  if (latents.rank() != 4 || latents.dim(0) < 1 || latents.dim(1) != z_dim_)
    throw Error(path_ + ": latents have shape " + shape_str(latents.shape()) + ", expected [T, " +
                std::to_string(z_dim_) + ", h, w]");
  const Tensor z = latents.to(DType::F32);
  const int64_t n = z.dim(0);
  int64_t frames = 0;
  std::vector<Tensor> parts;
  for (int64_t t = 0; t < n; ++t) {
    parts.push_back(decode_call(frames_of(z, t, 1), s));  // [1 or 4, 3, H, W]
    frames += parts.back().dim(0);
  }
  const int64_t per = parts[0].numel() / parts[0].dim(0);
  Tensor out = Tensor::empty({frames, 3, parts[0].dim(2), parts[0].dim(3)});  // [F, 3, H, W]
  float* dst = out.f32();
  for (const Tensor& p : parts) {
    std::memcpy(dst, p.f32(), p.nbytes());
    dst += p.dim(0) * per;
  }
  if (raw) *raw = out.clone();
  for (int64_t i = 0; i < out.numel(); ++i) out.f32()[i] = std::clamp(out.f32()[i], -1.0f, 1.0f);
  return out;
}

}  // namespace wl
