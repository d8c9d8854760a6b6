// How a world package begins (world.json "start", tools/train/WORLD_FORMAT.md).
//
//   {"from": "noise"}                              text-to-video: the first chunk comes from noise
//   {"from": "clip", "file": "start.safetensors"}  the package's own priming clip
//   {"from": "image"}                              the caller gives the start frames (image-to-video)
//
// A clip holds, per preset prompt i (world.json "presets"), the frames the
// world starts from and their latents in the DiT's scale:
//   rgb.<i>      F32 [prime_frames, H, W, 3]  pixel values 0..255
//   latents.<i>  F32 [prime_frames, C, h, w]  encoder(rgb) * latent_scale
//   actions.<i>  F32 [prime_frames, action_dim]  keys held while they were made
// A prompt that is no preset starts from preset 0's clip.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"

namespace wl {

struct WorldDescription;

enum class StartFrom : uint8_t { Noise, Clip, Image };

// "noise", "clip" or "image"; throws wl::Error naming `where` otherwise.
StartFrom parse_start_from(const std::string& name, const std::string& where);
const char* start_from_name(StartFrom from);

struct StartEntry {
  Tensor rgb;      // [n, H, W, 3] 0..255
  Tensor latents;  // [n, C, h, w] DiT scale
  Tensor actions;  // [n, action_dim]
};

class StartClip {
 public:
  // Reads and checks the clip of package `d` (every preset present, shapes
  // as the description says). Throws wl::Error naming the file and the problem.
  static std::unique_ptr<StartClip> open(const WorldDescription& d, int64_t action_dim);

  // The entry for `prompt`: the preset of that text, else preset 0.
  const StartEntry& for_prompt(const std::string& prompt) const;
  int64_t frames() const { return frames_; }

 private:
  std::unique_ptr<SafetensorsFile> file_;
  std::vector<std::string> presets_;
  std::vector<StartEntry> entries_;
  int64_t frames_ = 0;
};

}  // namespace wl
