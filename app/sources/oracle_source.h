// The oracle game (tools/oracle) as a FrameSource: the ground truth the
// embedded world model imitates, playable in the same loop so the app can show
// it alone or side by side with the model. Prompts pick the theme by keywords
// (wl::oracle::theme_from_prompt); a new prompt re-themes the same world from
// the next chunk on. No cache: the statistics name the policy "oracle" and
// leave the grid empty.
#pragma once

#include <cstdint>
#include <string>

#include "app/sources/frame_source.h"
#include "app/sources/oracle/oracle.h"

namespace wl::app {

struct OracleSourceOptions {
  int width = 64;
  int height = 64;
  int chunk_frames = 3;
  double fps = 30.0;
  int64_t start_x = 0;  // camera texel at reset
  int64_t start_y = 0;
  bool animate = true;
};

class OracleSource final : public FrameSource {
 public:
  explicit OracleSource(OracleSourceOptions options = {});

  FrameFormat format() const override { return {opt_.width, opt_.height}; }
  int chunk_frames() const override { return opt_.chunk_frames; }
  double nominal_fps() const override { return opt_.fps; }
  void reset(uint64_t seed, const std::string& prompt) override;
  void set_prompt(const std::string& prompt) override;
  ChunkStats next_chunk(const ChunkRequest& request, std::vector<uint8_t>& rgb) override;

  // For the overlay and the benchmarks.
  oracle::Theme theme() const { return game_.theme(); }
  const oracle::OracleGame& game() const { return game_; }

 private:
  OracleSourceOptions opt_;
  oracle::OracleGame game_;
};

}  // namespace wl::app
