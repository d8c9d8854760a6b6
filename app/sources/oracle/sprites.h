// The oracle game's sprites (internal to worldloop_oracle; the public
// interface is oracle.h): what is drawn in world space over the ground pass.
// Features (one slot per 8x8-texel tile: trees, flowers, rocks, reeds,
// floaters, fires, ...) with their shadows, wandering creatures, birds and
// weather particles, each re-skinned by the theme.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "app/sources/oracle/noise.h"
#include "app/sources/oracle/oracle.h"
#include "app/sources/oracle/palette.h"

namespace wl::oracle {

// Everything the sprite passes need about the frame.
struct Frame {
  uint8_t* rgb;
  int w, h;
  float k;              // pixels per texel
  const float* tx;      // texel x of each pixel column's centre (relative to the camera)
  const float* ty;
  int64_t cx, cy;       // camera texel
  float view_w, view_h; // in texels
  uint64_t seed;
  int64_t t;
  Theme theme;
  const Palette* pal;
  const SinTable* sn;

  // Calls f(lx, ly, pixel) for every pixel whose centre lies in the box
  // [x0, x1] x [y0, y1] around the sprite centre (sx, sy), camera-relative texels.
  template <class F>
  void draw(float sx, float sy, float x0, float y0, float x1, float y1, F&& f) const {
    int px0 = static_cast<int>(std::ceil((sx + x0) * k - 0.5f));
    int px1 = static_cast<int>(std::floor((sx + x1) * k - 0.5f));
    int py0 = static_cast<int>(std::ceil((sy + y0) * k - 0.5f));
    int py1 = static_cast<int>(std::floor((sy + y1) * k - 0.5f));
    px0 = std::max(px0, 0);
    py0 = std::max(py0, 0);
    px1 = std::min(px1, w - 1);
    py1 = std::min(py1, h - 1);
    for (int py = py0; py <= py1; ++py) {
      const float ly = ty[py] - sy;
      uint8_t* row = rgb + static_cast<size_t>(py) * w * 3;
      for (int px = px0; px <= px1; ++px) f(tx[px] - sx, ly, row + px * 3);
    }
  }
};

// The sprite passes over a frame whose ground is drawn: feature shadows, then
// features (every tile whose sprites can reach the view), creatures, birds
// and weather.
void draw_sprites(const Frame& fr);

}  // namespace wl::oracle
