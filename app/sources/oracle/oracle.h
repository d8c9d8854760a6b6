// The oracle game: the procedural world the embedded default world model is
// trained on (docs/model.md §8), and the reference its drift, memory and prompt
// adherence are measured against.
//
// A top-down world seen by a camera that the app's keys move. The layout is a
// pure function of (seed, world position): an infinite map made by hashing
// world coordinates, so a place looks the same whenever the camera comes back.
// Six themes (chosen by prompt text) re-skin the same layout with their own
// palette and features. The world also moves by itself (water and lava
// shimmer, flickering fires, wandering creatures, birds, falling snow and
// leaves) as a function of the frame counter; `animate = false` freezes it.
//
// Units: a texel is one pixel of the 64x64 view; a frame of height H shows 64
// texels vertically (H/64 pixels per texel) and W*64/H horizontally. The camera
// sits on integer texels; W/A/S/D move it `move_texels` per frame (4 by
// default: 4 px at 64x64, 8 px at 128x128), the arrows pan it `look_texels`
// (2 by default); opposite keys cancel, diagonals move on both axes.
//
// Why 4: the default world's autoencoder downsamples by 4, so a W/A/S/D step
// is exactly one latent pixel and the encoder (a stack of convolutions) maps
// a moved frame to the same latents moved by one. The world model then learns
// a shift of its own latents instead of a sub-pixel resampling of them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/actions.h"

namespace wl::oracle {

enum class Theme : int { Meadow = 0, Snow, Desert, Lava, Swamp, Autumn };
inline constexpr int kThemeCount = 6;

// "meadow", "snow", "desert", "lava", "swamp", "autumn".
const char* theme_name(Theme t);
// Long name for people: "summer meadow", "snowy forest", ...
const char* theme_title(Theme t);
// Parses theme_name() spellings; returns false when unknown.
bool theme_from_name(std::string_view name, Theme& out);

// The theme a prompt asks for, by keywords and synonyms (whole words, any
// case): winter/snow/frozen/... -> Snow, sand/dunes/desert/... -> Desert,
// volcano/lava/magma/... -> Lava, bog/marsh/swamp/... -> Swamp, fall/autumn/...
// -> Autumn; Meadow when nothing matches. When several themes match, the one
// with more keyword hits wins, then the one mentioned last ("the desert, now
// in winter" -> Snow).
Theme theme_from_prompt(std::string_view prompt);
// Varied phrasings of each theme for the dataset; every one maps back to its
// theme through theme_from_prompt().
const std::vector<std::string>& theme_phrasings(Theme t);

// Camera motion for one frame's keys, in texels (x right, y down).
struct Motion {
  int dx = 0;
  int dy = 0;
};

struct OracleOptions {
  int width = 64;         // pixels, 8..512
  int height = 64;
  int move_texels = 4;    // per frame per held W/A/S/D
  int look_texels = 2;    // per frame per held arrow
  bool animate = true;    // false: time stands still (static world, for tests)
};

class OracleGame {
 public:
  explicit OracleGame(OracleOptions options = {});

  const OracleOptions& options() const { return opt_; }
  int width() const { return opt_.width; }
  int height() const { return opt_.height; }
  size_t frame_bytes() const { return static_cast<size_t>(opt_.width) * opt_.height * 3; }

  // New world: layout from `seed`, camera's top-left at texel (x, y), time 0.
  void reset(uint64_t seed, Theme theme, int64_t x = 0, int64_t y = 0);
  // Re-themes the same world from the next rendered frame on.
  void set_theme(Theme theme) { theme_ = theme; }
  Theme theme() const { return theme_; }
  uint64_t seed() const { return seed_; }

  Motion motion_for(const FrameActions& a) const;

  // One frame: moves the camera by the frame's keys, renders into `rgb`
  // (frame_bytes(), RGB8, row-major, top row first), then advances time.
  void step(const FrameActions& a, uint8_t* rgb);
  // Renders the current state without moving or advancing time.
  void render(uint8_t* rgb);

  int64_t camera_x() const { return cam_x_; }
  int64_t camera_y() const { return cam_y_; }
  // Frames rendered since reset (the animation clock when animate is on).
  int64_t time() const { return time_; }
  void set_time(int64_t t) { time_ = t; }

 private:
  struct Octave {
    int shift = 0;                // lattice spacing 1 << shift texels
    int64_t base_x = 0, base_y = 0;
    int nx = 0, ny = 0;
    std::vector<float> lattice;   // ny * nx values of this frame's window
    std::vector<int32_t> col_i;   // per pixel column: lattice column
    std::vector<float> col_w;     //                   smoothed weight
    std::vector<int32_t> row_i;
    std::vector<float> row_w;
  };

  void prepare_octave(Octave& o, uint64_t salt);

  OracleOptions opt_;
  uint64_t seed_ = 0;
  Theme theme_ = Theme::Meadow;
  int64_t cam_x_ = 0, cam_y_ = 0;
  int64_t time_ = 0;

  // Per-frame scratch, sized once in the constructor (render allocates nothing).
  static constexpr int kOctaves = 8;
  Octave oct_[kOctaves];
  std::vector<float> texel_x_;    // per column: texel offset from the camera (pixel centre)
  std::vector<float> texel_y_;
  std::vector<int32_t> itexel_x_; // floor of the above
  std::vector<int32_t> itexel_y_;

};

}  // namespace wl::oracle
