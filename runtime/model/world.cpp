#include "runtime/model/world.h"
#include "runtime/model/world_identity.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "cache/cache_policy.h"
#include "runtime/core/actions.h"
#include "runtime/core/error.h"
#include "runtime/core/input_file.h"

namespace wl {
namespace {

std::string join(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

// world.json action names -> the key bits of runtime/core/actions.h.
uint32_t bit_for_world_action(const std::string& name) {
  if (name == "W") return kActForward;
  if (name == "S") return kActBack;
  if (name == "A") return kActLeft;
  if (name == "D") return kActRight;
  if (name == "up") return kActLookUp;
  if (name == "down") return kActLookDown;
  if (name == "left") return kActLookLeft;
  if (name == "right") return kActLookRight;
  return 0;
}

// The package's tokenizer and text encoder as the world's prompt encoder.
class PackagePromptEncoder final : public PromptEncoder {
 public:
  PackagePromptEncoder(const WeightMap& weights, const std::string& tokenizer_path)
      : tokenizer_(tokenizer_path), encoder_(weights) {}
  int64_t width() const override { return encoder_.width(); }
  Tensor context(const std::string& text) const override { return encoder_.encode(tokenizer_.encode(text)); }

 private:
  Tokenizer tokenizer_;
  TextEncoder encoder_;
};

}  // namespace

std::unique_ptr<World> World::open(const std::string& dir, const DitOptions& options, bool allow_external_paths) {
  WorldDescription d = WorldDescription::read(dir, allow_external_paths);
  WorldParts parts;
  auto weights = [&](const std::string& part) -> const WeightMap& {
    parts.weights.push_back(std::make_unique<WeightMap>(WeightMap::open(join(dir, d.files.at(part)))));
    parts.weights.back()->require_finite();
    return *parts.weights.back();
  };
  parts.dit = std::make_unique<CausalDit>(weights("dit"), options);
  parts.decoder = std::make_unique<ImageDecoder>(weights("decoder"), options.backend);
  if (d.files.count("encoder")) parts.encoder = std::make_unique<ImageEncoder>(weights("encoder"));
  parts.prompt_encoder = std::make_unique<PackagePromptEncoder>(weights("text_encoder"), join(dir, d.files.at("tokenizer")));
  std::unique_ptr<World> world = assemble(std::move(d), std::move(parts), join(dir, "world.json"));
  world->set_max_memory_bytes(options.max_memory_bytes);
  return world;
}

std::unique_ptr<World> World::assemble(WorldDescription description, WorldParts parts, const std::string& where) {
  auto w = std::unique_ptr<World>(new World());
  w->desc_ = std::move(description);
  w->weights_ = std::move(parts.weights);
  w->dit_ = std::move(parts.dit);
  w->decoder_ = std::move(parts.decoder);
  w->video_decoder_ = std::move(parts.video_decoder);
  w->encoder_ = std::move(parts.encoder);
  w->prompt_encoder_ = std::move(parts.prompt_encoder);
  const WorldDescription& d = w->desc_;
  const std::string& desc_path = where;

  // The parts must fit together.
  const DitConfig& c = w->dit_->config();
  if (c.in_dim != d.latent_channels || w->decoder_->latent_channels() != d.latent_channels)
    throw Error(desc_path + ": latent channels " + std::to_string(d.latent_channels) + " disagree with the DiT (" +
                std::to_string(c.in_dim) + ") or the " + w->decoder_->kind() + " (" +
                std::to_string(w->decoder_->latent_channels()) + ")");
  if (c.text_dim != w->prompt_encoder_->width())
    throw Error(desc_path + ": the text encoder's width " + std::to_string(w->prompt_encoder_->width()) +
                " is not the DiT's text_dim " + std::to_string(c.text_dim));
  if (c.action_dim != static_cast<int64_t>(d.actions.size()))
    throw Error(desc_path + ": " + std::to_string(d.actions.size()) + " actions but the DiT's action_dim is " +
                std::to_string(c.action_dim));
  if (const LatentVideoDecoder* v = w->video_decoder_.get()) {
    if (v->latent_channels() != d.latent_channels || d.image_height != d.latent_height * v->upsampling() ||
        d.image_width != d.latent_width * v->upsampling() || d.frames_per_latent != v->frames_per_latent())
      throw Error(desc_path + ": the " + v->describe() + " takes " + std::to_string(v->latent_channels()) +
                  " latent channels and makes " + std::to_string(v->frames_per_latent()) + " frames of " +
                  std::to_string(d.latent_height * v->upsampling()) + "x" + std::to_string(d.latent_width * v->upsampling()) +
                  " per latent frame, not " + std::to_string(d.latent_channels) + " channels and " +
                  std::to_string(d.frames_per_latent) + " of " + std::to_string(d.image_height) + "x" +
                  std::to_string(d.image_width));
  } else if (d.latent_height * w->decoder_->upsampling() != d.image_height ||
      d.latent_width * w->decoder_->upsampling() != d.image_width)
    throw Error(desc_path + ": the " + w->decoder_->kind() + " turns " + std::to_string(d.latent_height) + "x" +
                std::to_string(d.latent_width) + " latents into " +
                std::to_string(d.latent_height * w->decoder_->upsampling()) + "x" +
                std::to_string(d.latent_width * w->decoder_->upsampling()) + " images, not " +
                std::to_string(d.image_height) + "x" + std::to_string(d.image_width));
  for (const std::string& a : d.actions) {
    const uint32_t bit = bit_for_world_action(a);
    if (!bit) throw Error(desc_path + ": unknown action '" + a + "' (known: W A S D up down left right)");
    w->action_bits_.push_back(bit);
  }
  if (d.start == StartFrom::Clip) w->start_clip_ = StartClip::open(d, c.action_dim);
  std::vector<const WeightMap*> maps;
  for (const auto& m : w->weights_) maps.push_back(m.get());
  w->identity_ = world_identity(d, maps);
  return w;
}

Tensor World::prompt_context(const std::string& text) const {
  return prompt_encoder_->context(text);
}

std::string default_world_dir() {
#ifdef WORLDLOOP_DEFAULT_WORLD
  return WORLDLOOP_DEFAULT_WORLD;
#else
  return "assets/worlds/default";
#endif
}

}  // namespace wl
