// A world package's description, world.json (tools/train/WORLD_FORMAT.md):
// what the package holds and how it plays, read and checked before anything
// it names is opened. Every error names world.json, the key, the value and
// the allowed range.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/model/sampler.h"
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
  // The same checks on world.json's text; `path` is the file errors name.
  // (read() is this after a bounded read of a regular file; the fuzz target
  // tests/fuzz/fuzz_world_description.cpp calls it directly.)
  static WorldDescription parse(const std::string& text, const std::string& dir, const std::string& path,
                                bool allow_external_paths = false);
};

}  // namespace wl
