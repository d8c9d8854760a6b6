// The producer side of the real-time loop. A FrameSource makes the world's
// frames chunk by chunk; it is called only from the model thread, so an
// implementation needs no locking. Three implement it: the world package
// (world_source.h: the model's sampler and decoder), the oracle game
// (oracle_source.h) and a test pattern (test_pattern_source.h).
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/core/actions.h"
#include "app/sources/device_frames.h"
#include "cache/cache_stats.h"
#include "runtime/core/state_file.h"

namespace wl::app {

// Wall time of each stage of one chunk, in milliseconds.
struct StageTimes {
  double denoise_ms = 0.0;
  double cache_update_ms = 0.0;
  double decode_ms = 0.0;
  // The part of decode_ms that ran beside denoising (a decoder thread,
  // app/sources/decode_worker.h) and so cost no time of its own.
  double decode_hidden_ms = 0.0;
  double total_ms() const { return denoise_ms + cache_update_ms + decode_ms - decode_hidden_ms; }
};

// What comes back with every chunk.
struct ChunkStats {
  StageTimes stages;
  int threads = 0;  // CPU threads the chunk ran on (0: not a CPU model)
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
  bool need_rgb = false;                  // device path: also fill `rgb` (a recording is running)
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
  // Where and how the frames are computed, for the start-up log line and the
  // HUD: "CPU avx2 (kernels avx2), F32, 2 threads"; empty for a source with no model.
  virtual std::string compute_description() const { return {}; }
  // Prompts this world was made for (the 1-9 presets); empty: use the config's.
  virtual std::vector<std::string> presets() const { return {}; }
  // Switches the cache policy and budget (latent frames; 0 keeps it) between
  // chunks, keeping the world going. Returns an error message, empty on success.
  virtual std::string set_cache(const std::string& policy, int64_t budget_frames) {
    return "this source has no KV cache";
  }

  // Makes request.actions.size() frames into `rgb` (resized to frames * format().bytes()),
  // or, on the device path, into the sink (rgb then only when request.need_rgb).
  virtual ChunkStats next_chunk(const ChunkRequest& request, std::vector<uint8_t>& rgb) = 0;

  // ---- saved world states (runtime/core/state_file.h) ----
  // Writes what the next chunks depend on (between chunks). Throws wl::Error
  // saying why when the source cannot.
  virtual void save_state(StateWriter& /*out*/) const {
    throw std::runtime_error("this frame source cannot save a world state (only a world package can)");
  }
  // Continues from a saved state instead of reset(); refuses one it cannot play.
  virtual void load_state(const StateReader& /*in*/) {
    throw std::runtime_error("this frame source cannot load a world state (only a world package can)");
  }
  // What a saved state or an input log is checked against: the world's
  // identity hash, or the source's kind for a source with no model.
  virtual std::string identity() const { return "no-model"; }
  // The seed and prompt of the world in force (after load_state: the state's).
  virtual uint64_t seed() const { return 0; }
  virtual std::string prompt() const { return {}; }

  // ---- the device path of the frame hand-off (app/device_frames.h) ----
  // True when the source makes its frames on a CUDA device and can write
  // them into a DeviceFrameSink (a world decoding on CUDA).
  virtual bool decodes_on_device() const { return false; }
  // From the next chunk on, frames go to `sink` (null: back to `rgb`).
  // Only for a source that decodes_on_device(); called between chunks.
  virtual void set_device_sink(DeviceFrameSink* sink) {
    if (sink) throw std::logic_error("this frame source makes its frames on the CPU: it has no device path");
  }
  // The sink's handles for the last next_chunk's frames, one per frame
  // (empty on the host path); the source keeps none of them.
  virtual std::vector<DeviceFrameRef> take_device_frames() { return {}; }
};

}  // namespace wl::app
