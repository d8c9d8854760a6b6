// A random world package (tools/train/WORLD_FORMAT.md) for tests: every part
// with the right names and shapes, a sentencepiece tokenizer trained on a few
// prompts, and a world.json. Small enough to write in well under a second.
#pragma once
#include <string>

namespace wl::testref {

struct RandomWorldSpec {
  int latent_channels = 4;
  int latent_size = 16;      // latent height = width
  int codec_channels = 8;    // encoder/decoder width
  int codec_stages = 2;      // image = latent * 2^stages
  int text_dim = 16;
  int decoder_channels_override = 0;  // > 0: a decoder taking this many channels (a broken package)
  uint64_t seed = 1;
};

// Writes the package into `dir` (created if needed).
void write_random_world(const std::string& dir, const RandomWorldSpec& spec = {});

}  // namespace wl::testref
