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

namespace {

// A stream's tensors, some undefined: which are defined goes to the JSON, the
// defined ones to "<prefix>slot.<i>".
void save_slots(StateWriter& out, nlohmann::json& j, const std::string& prefix, const std::vector<Tensor>& slots) {
  nlohmann::json defined = nlohmann::json::array();
  for (size_t i = 0; i < slots.size(); ++i) {
    defined.push_back(slots[i].defined());
    if (slots[i].defined()) out.tensor(prefix + "slot." + std::to_string(i), slots[i]);
  }
  j["slots"] = defined;
}

// The slots back: none (nothing decoded yet) or exactly `count`, each
// [frames, C, H, W] with C, H, W checked again when the stream uses it.
std::vector<Tensor> load_slots(const StateReader& in, const std::string& key, const std::string& prefix, size_t count,
                               int64_t frames) {
  const nlohmann::json& defined = in.at(key + "/slots");
  if (!defined.is_array() || (!defined.empty() && defined.size() != count))
    in.fail(key + "/slots: " + std::to_string(defined.is_array() ? defined.size() : 0) +
            " stream slots, this decoder has " + std::to_string(count));
  std::vector<Tensor> slots(defined.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!defined[i].is_boolean()) in.fail(key + "/slots/" + std::to_string(i) + " is not true or false");
    if (!defined[i].get<bool>()) continue;
    slots[i] = in.tensor_any(prefix + "slot." + std::to_string(i), 4);
    if (slots[i].dim(0) != frames)
      in.fail(prefix + "slot." + std::to_string(i) + ": shape " + shape_str(slots[i].shape()) + ", expected " +
              std::to_string(frames) + " frames");
  }
  return slots;
}

}  // namespace

void LatentVideoDecoder::save_state(StateWriter& out, const std::string& prefix) const {
  nlohmann::json& j = out.json()[prefix];
  j["kind"] = latent_decoder_name(kind_);
  j["demo"] = options_.demo;
  j["latents"] = latents_;
  if (vae_) {
    j["calls"] = vae_stream_->calls;
    save_slots(out, j, prefix + ".", vae_stream_->conv);
  } else if (options_.demo) {
    j["has_context"] = taehv_window_->context().defined();
    if (taehv_window_->context().defined()) out.tensor(prefix + ".context", taehv_window_->context());
  } else {
    save_slots(out, j, prefix + ".", taehv_stream_->memory);
  }
}

void LatentVideoDecoder::load_state(const StateReader& in, const std::string& prefix) {
  const std::string kind = in.string(prefix + "/kind");
  if (kind != latent_decoder_name(kind_))
    in.fail(prefix + "/kind: saved with the " + kind + " decoder, this world decodes with " + latent_decoder_name(kind_));
  if (in.boolean(prefix + "/demo") != options_.demo)
    in.fail(prefix + "/demo: saved with the " + std::string(options_.demo ? "exact" : "demo") +
            " stream semantics, this run uses the " + (options_.demo ? "demo" : "exact") + " ones");
  const int64_t latents = in.integer(prefix + "/latents");
  if (latents < 0) in.fail(prefix + "/latents: negative");
  // Everything is read and checked before the running stream is replaced, so
  // a refused state leaves it as it was.
  if (vae_) {
    const int64_t calls = in.integer(prefix + "/calls");
    if (calls < 0) in.fail(prefix + "/calls: negative");
    auto stream = std::make_unique<WanVaeDecoder::Stream>(vae_stream_->semantics);
    stream->calls = calls;
    stream->conv = load_slots(in, prefix, prefix + ".", static_cast<size_t>(vae_->conv_slots()), 2);
    vae_stream_ = std::move(stream);
  } else if (options_.demo) {
    Tensor z;
    if (in.boolean(prefix + "/has_context")) {
      z = in.tensor_any(prefix + ".context", 4);  // [B, 16, h, w]
      if (z.dim(1) != latent_channels())
        in.fail(prefix + ".context: shape " + shape_str(z.shape()) + ", expected [B, " +
                std::to_string(latent_channels()) + ", h, w]");
    }
    taehv_window_ = std::make_unique<TaehvDemoWindow>(*taehv_);
    if (z.defined()) taehv_window_->set_context(std::move(z));
  } else {
    auto stream = std::make_unique<TaehvDecoder::Stream>();
    stream->memory = load_slots(in, prefix, prefix + ".", static_cast<size_t>(taehv_->memory_slots()), 1);
    taehv_stream_ = std::move(stream);
  }
  latents_ = latents;
}

}  // namespace wl
