// The ImGui overlay: performance HUD, cache view (blocks x cached frames grid,
// budget, token-score heatmap of the newest frame) and the controls (prompt
// box, presets, seed, pause/step/reset, record). It only reads the published
// statistics (cache/cache_stats.h and stage times) and returns what the user
// asked for; the app acts on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache/cache_stats.h"
#include "ui/thumbnail.h"
#include "ui/frame_time_history.h"

namespace wl::ui {

struct StageTimesMs {
  double denoise = 0, cache_update = 0, decode = 0;
  double decode_hidden = 0;  // of decode, the part that ran beside denoising
};

// Everything the overlay shows, refreshed by the app every displayed frame.
struct OverlayState {
  // Presentation.
  FrameTimeHistory present_ms{240};  // time between presents
  FrameTimeHistory world_ms{240};    // time between new world frames shown
  FrameTimeHistory latency_ms{240};  // input-to-display
  int64_t dropped_frames = 0;
  std::string device_name, present_mode;
  std::string compute;  // where the world computes: "CPU avx2 (kernels avx2), F32, 2 threads"
  // World.
  StageTimesMs stages;  // of the newest chunk, per chunk
  int chunk_frames = 1;
  int64_t world_frame = 0, session_frame = 0, chunk = 0;
  std::string prompt, pending_prompt;
  uint64_t seed = 0;
  bool paused = false;
  std::string actions;  // keys held for the newest frame
  std::string source_name;
  // Cache.
  cache::CacheStats cache;
  // Recording.
  bool recording = false;
  std::string recording_desc;
  std::vector<std::string> presets;
  std::string status_line;  // last notice (screenshot saved, errors)
  // World states saved this session (F5), oldest first: "file (frame N)",
  // and the picture on screen when each was asked for (empty on the device path).
  std::vector<std::string> saved_states;
  std::vector<Thumbnail> saved_thumbnails;
};

// What the user asked for this frame.
struct OverlayActions {
  std::optional<std::string> prompt;  // submit (Enter) or preset button
  std::optional<uint64_t> reset_seed; // reset (with this seed)
  bool toggle_pause = false;
  bool step = false;
  bool toggle_record = false;
  bool screenshot = false;
  std::optional<std::string> cache_policy;   // switch the cache policy ...
  int64_t cache_budget_frames = 0;           // ... and budget (0: keep)
  bool save_state = false;                   // F5
  std::optional<size_t> load_state;          // index into saved_states (F8: the newest)
};

// View toggles the overlay owns.
struct OverlayView {
  bool visible = true;
  bool linear_filter = false;
  bool heatmap_on_frame = false;
  float heatmap_opacity = 0.55f;
};

class Overlay {
 public:
  // Builds the ImGui windows (between ImGuiLayer::begin_frame and end_frame).
  OverlayActions draw(const OverlayState& state, OverlayView& view);

 private:
  void draw_hud(const OverlayState& s);
  void draw_cache(const OverlayState& s, OverlayView& view, OverlayActions& out);
  void draw_controls(const OverlayState& s, OverlayView& view, OverlayActions& out);

  char prompt_buf_[512] = {};
  bool prompt_buf_init_ = false;
  bool controls_moved_ = false;  // the user dragged the World panel (it then stays where it was put)
  int seed_input_ = 0;
  int policy_choice_ = -1;  // index into the policy names; -1: follow the world
  int budget_frames_input_ = 0;
  std::vector<float> scratch_;
};

}  // namespace wl::ui
