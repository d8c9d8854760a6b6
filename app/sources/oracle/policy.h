// Scripted-random play for the oracle dataset: what keys an episode holds on
// each frame and when its prompt changes. Deterministic given (seed, episode)
// on every platform (own generator, no std distributions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/actions.h"
#include "app/sources/oracle/oracle.h"

namespace wl::oracle {

// splitmix64: small, fast, portable.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next();
  // Uniform in [lo, hi] (inclusive).
  int range(int lo, int hi);
  // Uniform in [0, 1).
  double unit();
  bool chance(double p) { return unit() < p; }

 private:
  uint64_t s_;
};

struct PromptEvent {
  int frame = 0;       // in force from this frame on
  std::string text;
  Theme theme = Theme::Meadow;
};

struct EpisodeScript {
  uint64_t world_seed = 0;
  int64_t start_x = 0, start_y = 0;             // camera texel at reset
  std::vector<FrameActions> actions;        // one per frame
  std::vector<PromptEvent> prompts;              // first at frame 0, sorted by frame
  Theme theme_at(int frame) const;
};

struct PolicyOptions {
  double switch_episode_p = 0.5;  // chance an episode has prompt switches
  int max_switches = 2;
  double rephrase_p = 0.1;        // chance a switch keeps the theme, new words
  int switch_align = 3;           // switches fall on multiples of this frame count (the
                                  // engine's chunk: a new prompt applies at a chunk boundary)
  int64_t start_range = 1 << 20;  // start texels drawn from [-range, range]
};

// The script of episode `episode` of a dataset made with `seed`: a sequence
// of segments (hold a direction for a random time, idle, diagonals,
// back-and-forth, out-and-back walks, arrow pans, key jitter) and prompt
// switches to random phrasings of random themes.
EpisodeScript make_episode_script(uint64_t seed, int episode, int frames, const PolicyOptions& opt = {});

// Columns of the dataset's `actions` tensor: W, A, S, D, up, down, left, right.
inline constexpr ActionBit kDatasetActionOrder[kActionBitCount] = {
    kActForward, kActLeft, kActBack, kActRight,
    kActLookUp, kActLookDown, kActLookLeft, kActLookRight};
inline constexpr const char* kDatasetActionNames[kActionBitCount] = {"W", "A", "S", "D",
                                                                        "up", "down", "left", "right"};

}  // namespace wl::oracle
