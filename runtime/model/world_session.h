// One play-through of a world package: the KV store sized by the package's
// cache budget, the seeded noise, the sampler with the package's settings, the
// start (the package's clip, or frames a caller gives), and the latent scale
// on the way in and out. A frame source (app/sources/world_source.h) owns one
// per reset and adds decoding, threads and statistics.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cache/kv_store.h"
#include "cache/rolling_window_kv.h"
#include "runtime/core/actions.h"
#include "runtime/model/noise_source.h"
#include "runtime/model/sampler.h"
#include "runtime/model/world.h"

namespace wl {

struct WorldSessionOptions {
  std::string policy;         // empty: the package's
  int64_t budget_frames = 0;  // 0: the package's
};

// Frames to start from instead of the package's start: RGB8 [n][H][W][3]
// with the keys that led to each. The package's encoder turns them into
// latents (image-to-video starts, and the benchmarks' oracle ground truth).
struct StartFrames {
  std::vector<uint8_t> rgb;
  std::vector<FrameActions> actions;
};

class WorldSession {
 public:
  // Throws wl::Error when the start cannot be made (a package that starts
  // from an image given no frames, start frames without an encoder).
  WorldSession(World& world, const WorldSessionOptions& options, uint64_t seed, const std::string& prompt,
               const StartFrames* start = nullptr);

  // Continues a saved state (runtime/core/state_file.h, written by
  // save_state): the KV store and its policy, the sampler, the seed and the
  // prompt. A state of another world (World::identity) or configuration is
  // refused by name; nothing of the package's start runs.
  WorldSession(World& world, const StateReader& state);
  // Between chunks. Writes everything the next chunks depend on.
  void save_state(StateWriter& out) const;

  void set_prompt(const std::string& prompt);
  // A new policy (empty: keep) and budget (0: keep), from the next chunk.
  // Returns "" or why it was refused.
  std::string set_cache(const std::string& policy, int64_t budget_frames);

  // The next chunk for the decoder: latents [chunk, C, h, w] divided by the
  // package's latent_scale. `actions`: one per frame of the chunk.
  Tensor next_chunk(std::span<const FrameActions> actions);

  // The DiT's action vectors [n, action_dim] for per-frame key masks
  // (undefined for a model without actions).
  Tensor action_tensor(const FrameActions* actions, size_t n) const;

  const SamplerTiming& last_timing() const { return sampler_->last_timing(); }
  const cache::KvStore& store() const { return *store_; }
  bool primed() const { return primed_; }
  uint64_t seed() const { return seed_; }
  const std::string& prompt() const { return prompt_; }

 private:
  // The store, noise and sampler for `budget` frames under `policy`, the prompt set.
  void build(const std::string& policy, int64_t budget);

  World& world_;
  std::unique_ptr<cache::KvStore> store_;
  std::unique_ptr<cache::RollingWindowKv> rolling_;  // rolling mode: Rolling Forcing's positions over store_
  std::unique_ptr<SeededNoise> noise_;
  std::unique_ptr<Sampler> sampler_;
  uint64_t seed_ = 0;
  std::string prompt_;        // the prompt in force
  int64_t built_budget_ = 0;  // the budget the sampler's settings were made for (frames)
  int64_t chunks_made_ = 0;   // for the non-finite latents' message
  bool primed_ = false;
};

}  // namespace wl
