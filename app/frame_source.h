// The producer side of the real-time loop. A FrameSource makes the world's
// frames chunk by chunk; it is called only from the model thread, so an
// implementation needs no locking. The test pattern implements it today; the
// model's sampler (runtime/) plugs in as another FrameSource.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "app/actions.h"
#include "cache/cache_stats.h"

namespace wl::app {

// Wall time of each stage of one chunk, in milliseconds.
struct StageTimes {
  double denoise_ms = 0.0;
  double cache_update_ms = 0.0;
  double decode_ms = 0.0;
  double total_ms() const { return denoise_ms + cache_update_ms + decode_ms; }
};

// What comes back with every chunk.
struct ChunkStats {
  StageTimes stages;
  cache::CacheStats cache;
};

// Frames are tightly packed RGB8, row-major, top row first.
struct FrameFormat {
  int width = 0;
  int height = 0;
  size_t bytes() const { return static_cast<size_t>(width) * height * 3; }
};

struct ChunkRequest {
  int64_t first_frame = 0;               // index of the chunk's first frame since the last reset
  std::span<const FrameActions> actions;  // one per frame; size() == frames to make
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;

  virtual FrameFormat format() const = 0;
  // Frames per chunk (1 for frame-wise models).
  virtual int chunk_frames() const = 0;
  // The rate the world was made for; the loop paces real-time play to it.
  virtual double nominal_fps() const = 0;

  // Starts a new world from `seed` with `prompt` in force.
  virtual void reset(uint64_t seed, const std::string& prompt) = 0;
  // Makes the prompt in force from the next chunk on (called only between chunks).
  virtual void set_prompt(const std::string& prompt) = 0;
  // Prompts this world was made for (the 1-9 presets); empty: use the config's.
  virtual std::vector<std::string> presets() const { return {}; }
  // Switches the cache policy and budget (latent frames; 0 keeps it) between
  // chunks, keeping the world going. Returns an error message, empty on success.
  virtual std::string set_cache(const std::string& policy, int64_t budget_frames) {
    return "this source has no KV cache";
  }

  // Makes request.actions.size() frames into `rgb` (resized to frames * format().bytes()).
  virtual ChunkStats next_chunk(const ChunkRequest& request, std::vector<uint8_t>& rgb) = 0;
};

}  // namespace wl::app
