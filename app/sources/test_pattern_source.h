// A procedural world for demonstrating and testing the loop before the model
// exists: a checkered ground under a sky seen by a camera that the actions move
// (W/S forward/back, A/D strafe, arrows look), with a palette chosen by a hash
// of the prompt and some motion of its own. Deterministic given the seed, the
// prompt history and the actions. Its cache statistics are simulated (a sink
// plus a sliding window, scored by tile contrast) and say so in the policy name.
#pragma once

#include <cstdint>
#include <string>

#include "app/sources/frame_source.h"

namespace wl::app {

struct TestPatternOptions {
  int width = 320;
  int height = 240;
  int chunk_frames = 3;
  double fps = 30.0;
  int sim_blocks = 6;        // rows of the simulated cache grid
  int sim_window_frames = 6; // cached frames besides the sink
};

class TestPatternSource final : public FrameSource {
 public:
  explicit TestPatternSource(TestPatternOptions options = {});

  FrameFormat format() const override { return {opt_.width, opt_.height}; }
  int chunk_frames() const override { return opt_.chunk_frames; }
  double nominal_fps() const override { return opt_.fps; }
  void reset(uint64_t seed, const std::string& prompt) override;
  void set_prompt(const std::string& prompt) override;
  ChunkStats next_chunk(const ChunkRequest& request, std::vector<uint8_t>& rgb) override;

 private:
  struct Camera {
    double x = 0, z = 0, yaw = 0, pitch = 0;
  };
  struct Palette {
    uint8_t ground_a[3], ground_b[3], sky_top[3], sky_horizon[3], accent[3];
  };

  void step_camera(const FrameActions& a);
  void render_frame(int64_t frame_index, uint8_t* rgb) const;
  void simulate_cache(int64_t last_frame, const uint8_t* last_rgb, ChunkStats& stats) const;
  static Palette palette_for(const std::string& prompt);

  TestPatternOptions opt_;
  uint64_t seed_ = 0;
  Camera cam_;
  Palette palette_{};
};

// 64-bit FNV-1a, used for prompt colours (stable across runs and platforms).
uint64_t fnv1a64(const std::string& s);

}  // namespace wl::app
