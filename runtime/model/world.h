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
#include "runtime/model/world_description.h"
#include "runtime/model/world_start.h"

namespace wl {

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
  // --max-memory (DitOptions::max_memory_bytes; 0: none): what a session's
  // memory plan, its KV cache included, is checked against before it is built.
  int64_t max_memory_bytes() const { return max_memory_bytes_; }
  void set_max_memory_bytes(int64_t bytes) { max_memory_bytes_ = bytes; }

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
  int64_t max_memory_bytes_ = 0;
};

// The default world shipped in the repository (WORLDLOOP_DEFAULT_WORLD at build time).
std::string default_world_dir();

}  // namespace wl
