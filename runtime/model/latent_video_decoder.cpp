#include "runtime/model/latent_video_decoder.h"

#include "runtime/core/error.h"
#include "runtime/model/wan_vae_blocks.h"

namespace wl {

LatentDecoderKind detect_latent_decoder(const WeightMap& w) {
  if (w.has("decoder.conv1.weight") && w.has("conv2.weight")) return LatentDecoderKind::Vae;
  if (w.has("decoder.1.weight") && w.has("decoder.22.weight")) return LatentDecoderKind::Taehv;
  throw Error(w.path() + ": neither a Wan 2.1 VAE decoder (no tensors 'conv2.weight', 'decoder.conv1.weight') nor a "
              "TAEHV decoder (no tensors 'decoder.1.weight', 'decoder.22.weight')");
}

LatentDecoderKind parse_latent_decoder(const std::string& name, const std::string& what) {
  if (name == "vae") return LatentDecoderKind::Vae;
  if (name == "taehv") return LatentDecoderKind::Taehv;
  throw Error(what + ": decoder '" + name + "' is not vae or taehv");
}

const char* latent_decoder_name(LatentDecoderKind k) { return k == LatentDecoderKind::Vae ? "vae" : "taehv"; }

LatentVideoDecoder::LatentVideoDecoder(const WeightMap& weights, LatentVideoDecoderOptions options)
    : kind_(detect_latent_decoder(weights)), options_(options) {
  if (kind_ == LatentDecoderKind::Vae)
    vae_ = std::make_unique<WanVaeDecoder>(weights);
  else
    taehv_ = std::make_unique<TaehvDecoder>(weights);
  reset();
}

int64_t LatentVideoDecoder::frames_per_latent() const { return vae_ ? 4 : taehv_->frames_per_latent(); }

int64_t LatentVideoDecoder::latent_channels() const { return vae_ ? vae_->z_dim() : taehv_->latent_channels(); }

std::string LatentVideoDecoder::describe() const {
  if (vae_)
    return "Wan 2.1 VAE (d " + std::to_string(vae_->dim()) + ", " + (options_.demo ? "demo" : "pipeline") + " semantics)";
  std::string n;
  for (int64_t v : taehv_->widths()) n += (n.empty() ? "" : ", ") + std::to_string(v);
  return "TAEHV (n_f " + n + ", " + (options_.demo ? "demo windows" : "memories carried") + ")";
}

void LatentVideoDecoder::reset() {
  latents_ = 0;
  if (vae_) vae_stream_ = std::make_unique<WanVaeDecoder::Stream>(options_.demo ? VaeStreamSemantics::Demo
                                                                                : VaeStreamSemantics::Pipeline);
  if (taehv_) {
    taehv_stream_ = std::make_unique<TaehvDecoder::Stream>();
    taehv_window_ = std::make_unique<TaehvDemoWindow>(*taehv_);
  }
}

Tensor LatentVideoDecoder::push(const Tensor& latents) {
  if (latents.rank() != 4 || latents.dim(0) < 1 || latents.dim(1) != latent_channels())
    throw Error("latent decoder: latents have shape " + shape_str(latents.shape()) + ", expected [n, " +
                std::to_string(latent_channels()) + ", h, w]");
  const bool first = latents_ == 0;
  latents_ += latents.dim(0);
  if (vae_) {
    Tensor px = vae_->decode(latents, *vae_stream_);  // [F, 3, H, W], clamped
    if (options_.demo && first) px = wan_vae::frames_of(px, 3, px.dim(0) - 3);  // the demo drops raw[0:3]
    return px;
  }
  if (options_.demo) return taehv_window_->decode_block(latents);
  const Tensor raw = taehv_->decode_call(latents, *taehv_stream_);  // [4n, 3, H, W] in about [0, 1]
  const int64_t skip = first ? taehv_->frames_to_trim() : 0;
  Tensor px = wan_vae::frames_of(raw, skip, raw.dim(0) - skip);
  for (int64_t i = 0; i < px.numel(); ++i) px.f32()[i] = px.f32()[i] * 2.0f - 1.0f;
  return px;
}

}  // namespace wl
