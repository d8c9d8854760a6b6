// A world package (tools/train/WORLD_FORMAT.md): the description file and the
// models it names, loaded with the same loader and model code as any
// checkpoint. Every failure names the file and the problem.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/model/causal_dit.h"
#include "runtime/model/frame_decoder.h"
#include "runtime/model/image_codec.h"
#include "runtime/model/latent_video_decoder.h"
#include "runtime/model/prompt_encoder.h"
#include "runtime/model/sampler.h"
#include "runtime/model/text_encoder.h"
#include "runtime/model/world_start.h"

namespace wl {

// Limits on what a package may ask for (world.json), written once.
inline constexpr int64_t kMaxBudgetFrames = 4096;  // latent frames of KV cache
inline constexpr int64_t kMaxPrimeFrames = 256;    // frames a start clip primes

struct WorldDescription {
  std::string name;
  std::string dir;
  int image_width = 0, image_height = 0;        // shown frames
  int64_t latent_channels = 0, latent_height = 0, latent_width = 0;
  double fps = 30;                              // shown frames per second
  int64_t frames_per_latent = 1;                // shown frames per latent frame: 4 with a video decoder
  std::vector<int> steps;
  double shift = 5.0;
  int64_t chunk = 3;
  float context_noise = 0;
  int64_t budget_frames = 0, sink_frames = 0;
  SamplerMode mode = SamplerMode::Chunk;  // Rolling: a window of len(steps) chunks (published Rolling Forcing)
  int64_t attention_frames = 0;           // rolling: how far back attention reaches (0: the budget)
  std::string policy = "full";
  std::vector<std::string> actions;                // names, in the order of the action vector
  std::map<std::string, std::string> bindings;     // action -> key name
  std::vector<std::string> presets;
  int64_t prime_frames = 0;                        // frames a start clip or start frames hold
  StartFrom start = StartFrom::Noise;              // how the world begins (world_start.h)
  std::string start_file;                          // start.from "clip": the clip's file in dir
  float latent_scale = 1.0f;
  std::map<std::string, std::string> files;        // part -> file name in dir

  // Reads and validates <dir>/world.json: its numbers typed and in range, no
  // duplicate keys, and every file it names a regular file inside `dir`
  // (symlinks resolved) unless `allow_external_paths` (--allow-external-paths).
  static WorldDescription read(const std::string& dir, bool allow_external_paths = false);
};

// The loaded parts of a world, before they are checked against each other.
// The weight maps keep the files the parts read mapped.
struct WorldParts {
  std::vector<std::unique_ptr<WeightMap>> weights;
  std::unique_ptr<CausalDit> dit;
  std::unique_ptr<FrameDecoder> decoder;
  std::unique_ptr<ImageEncoder> encoder;  // may be null
  std::unique_ptr<PromptEncoder> prompt_encoder;
  // A streaming Wan pixel decoder (published models): when set, it makes the
  // shown frames, frames_per_latent per latent, instead of `decoder`.
  std::unique_ptr<LatentVideoDecoder> video_decoder;
};

class World {
 public:
  // Loads the package in `dir`. The DiT's products use `options`; the image
  // decoder runs on options.backend (the encoder, which primes, on the CPU).
  static std::unique_ptr<World> open(const std::string& dir, const DitOptions& options = {},
                                     bool allow_external_paths = false);
  // A world from parts loaded elsewhere (a published model directory,
  // runtime/model/published_model.h). Checks that the parts fit the
  // description and each other; errors name `where` (the description's file).
  static std::unique_ptr<World> assemble(WorldDescription description, WorldParts parts, const std::string& where);

  const WorldDescription& description() const { return desc_; }
  CausalDit& dit() { return *dit_; }
  const FrameDecoder& decoder() const { return *decoder_; }
  // The streaming pixel decoder that makes the shown frames, or null (then decoder() does).
  LatentVideoDecoder* video_decoder() { return video_decoder_.get(); }
  const LatentVideoDecoder* video_decoder() const { return video_decoder_.get(); }
  const ImageEncoder* encoder() const { return encoder_.get(); }  // null when the package has none
  const StartClip* start_clip() const { return start_clip_.get(); }  // null unless start.from is "clip"
  // Per entry of the DiT's action vector (world.json "actions"), the key bit
  // (runtime/core/actions.h) that holds it.
  const std::vector<uint32_t>& action_bits() const { return action_bits_; }
  // The DiT's prompt context [n, text_dim] for a prompt text.
  Tensor prompt_context(const std::string& text) const;
  // What a saved state is checked against (runtime/model/world_identity.h):
  // 16 hex digits over the settings and the weights.
  const std::string& identity() const { return identity_; }

 private:
  WorldDescription desc_;
  std::vector<std::unique_ptr<WeightMap>> weights_;
  std::unique_ptr<CausalDit> dit_;
  std::unique_ptr<FrameDecoder> decoder_;
  std::unique_ptr<LatentVideoDecoder> video_decoder_;
  std::unique_ptr<ImageEncoder> encoder_;
  std::unique_ptr<PromptEncoder> prompt_encoder_;
  std::unique_ptr<StartClip> start_clip_;
  std::vector<uint32_t> action_bits_;
  std::string identity_;
};

// The default world shipped in the repository (WORLDLOOP_DEFAULT_WORLD at build time).
std::string default_world_dir();

}  // namespace wl
