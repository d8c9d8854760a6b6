#include "runtime/model/world.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "runtime/core/actions.h"
#include "runtime/core/error.h"

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

WorldDescription WorldDescription::read(const std::string& dir) {
  const std::string path = join(dir, "world.json");
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the world description (is '" + dir + "' a world folder?)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  WorldDescription d;
  d.dir = dir;
  try {
    d.name = j.at("name").get<std::string>();
    d.image_width = j.at("image").at("width").get<int>();
    d.image_height = j.at("image").at("height").get<int>();
    d.latent_channels = j.at("latent").at("channels").get<int64_t>();
    d.latent_height = j.at("latent").at("height").get<int64_t>();
    d.latent_width = j.at("latent").at("width").get<int64_t>();
    d.fps = j.value("fps", 30.0);
    const auto& s = j.at("sampler");
    d.steps = s.at("steps").get<std::vector<int>>();
    d.shift = s.value("shift", 5.0);
    d.chunk = s.value("chunk", int64_t{3});
    d.context_noise = s.value("context_noise", 0.0f);
    const auto& c = j.at("cache");
    d.budget_frames = c.at("budget_frames").get<int64_t>();
    d.sink_frames = c.value("sink_frames", int64_t{0});
    d.policy = c.value("policy", std::string("full"));
    d.actions = j.at("actions").get<std::vector<std::string>>();
    if (j.contains("bindings")) d.bindings = j["bindings"].get<std::map<std::string, std::string>>();
    if (j.contains("presets")) d.presets = j["presets"].get<std::vector<std::string>>();
    d.prime_frames = j.value("prime_frames", int64_t{0});
    d.latent_scale = j.value("latent_scale", 1.0f);
    if (j.contains("start")) {
      const auto& st = j.at("start");
      d.start = parse_start_from(st.at("from").get<std::string>(), path);
      if (d.start == StartFrom::Clip) d.start_file = st.at("file").get<std::string>();
    }
    d.files = j.at("files").get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
  for (const char* part : {"dit", "decoder", "text_encoder", "tokenizer"})
    if (!d.files.count(part)) throw Error(path + ": files." + part + " is missing");
  if (d.chunk <= 0 || d.budget_frames < d.chunk + d.sink_frames)
    throw Error(path + ": cache.budget_frames " + std::to_string(d.budget_frames) + " cannot hold " +
                std::to_string(d.sink_frames) + " sink frames and a chunk of " + std::to_string(d.chunk));
  if (d.prime_frames % d.chunk) throw Error(path + ": prime_frames must be whole chunks");
  return d;
}

std::unique_ptr<World> World::open(const std::string& dir, const DitOptions& options) {
  WorldDescription d = WorldDescription::read(dir);
  WorldParts parts;
  auto weights = [&](const std::string& part) -> const WeightMap& {
    parts.weights.push_back(std::make_unique<WeightMap>(WeightMap::open(join(dir, d.files.at(part)))));
    return *parts.weights.back();
  };
  parts.dit = std::make_unique<CausalDit>(weights("dit"), options);
  parts.decoder = std::make_unique<ImageDecoder>(weights("decoder"), options.backend);
  if (d.files.count("encoder")) parts.encoder = std::make_unique<ImageEncoder>(weights("encoder"));
  parts.prompt_encoder = std::make_unique<PackagePromptEncoder>(weights("text_encoder"), join(dir, d.files.at("tokenizer")));
  return assemble(std::move(d), std::move(parts), join(dir, "world.json"));
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
