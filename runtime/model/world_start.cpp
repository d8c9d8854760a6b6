#include "runtime/model/world_start.h"

#include <filesystem>

#include "runtime/core/error.h"
#include "runtime/model/world.h"

namespace wl {

StartFrom parse_start_from(const std::string& name, const std::string& where) {
  if (name == "noise") return StartFrom::Noise;
  if (name == "clip") return StartFrom::Clip;
  if (name == "image") return StartFrom::Image;
  throw Error(where + ": start.from must be noise, clip or image, got '" + name + "'");
}

const char* start_from_name(StartFrom from) {
  switch (from) {
    case StartFrom::Noise: return "noise";
    case StartFrom::Clip: return "clip";
    case StartFrom::Image: return "image";
  }
  return "?";
}

std::unique_ptr<StartClip> StartClip::open(const WorldDescription& d, int64_t action_dim) {
  const std::string path = (std::filesystem::path(d.dir) / d.start_file).string();
  auto clip = std::unique_ptr<StartClip>(new StartClip());
  clip->file_ = std::make_unique<SafetensorsFile>(SafetensorsFile::open(path));
  clip->presets_ = d.presets;
  clip->frames_ = d.prime_frames;
  if (d.prime_frames <= 0) throw Error(d.dir + "/world.json: a start clip needs prime_frames > 0");
  const size_t n = std::max<size_t>(d.presets.size(), 1);
  const int64_t f = d.prime_frames;
  for (size_t i = 0; i < n; ++i) {
    const std::string k = std::to_string(i);
    auto get = [&](const std::string& name, const Shape& shape) {
      if (!clip->file_->has(name)) throw Error(path + ": missing tensor '" + name + "' (preset " + k + ")");
      Tensor t = clip->file_->get_f32(name);
      if (t.shape() != shape)
        throw Error(path + ": tensor '" + name + "' has shape " + shape_str(t.shape()) + ", expected " +
                    shape_str(shape));
      return t;
    };
    StartEntry e;
    e.rgb = get("rgb." + k, {f, d.image_height, d.image_width, 3});
    e.latents = get("latents." + k, {f, d.latent_channels, d.latent_height, d.latent_width});
    e.actions = get("actions." + k, {f, action_dim});
    clip->entries_.push_back(std::move(e));
  }
  return clip;
}

const StartEntry& StartClip::for_prompt(const std::string& prompt) const {
  for (size_t i = 0; i < presets_.size() && i < entries_.size(); ++i)
    if (presets_[i] == prompt) return entries_[i];
  return entries_.front();
}

}  // namespace wl
