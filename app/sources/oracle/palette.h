// The oracle game's colours (internal to worldloop_oracle; the public
// interface is oracle.h): the RGB pixel operations every pass draws with and
// each theme's palette. Theme names and prompt matching are themes.cpp.
#pragma once

#include <algorithm>
#include <cstdint>

#include "app/sources/oracle/oracle.h"

namespace wl::oracle {

struct Rgb {
  uint8_t r, g, b;
};

inline Rgb lerp(Rgb a, Rgb b, float t) {
  t = std::clamp(t, 0.0f, 1.0f);
  return {static_cast<uint8_t>(a.r + (b.r - a.r) * t + 0.5f), static_cast<uint8_t>(a.g + (b.g - a.g) * t + 0.5f),
          static_cast<uint8_t>(a.b + (b.b - a.b) * t + 0.5f)};
}
inline void put(uint8_t* p, Rgb c) {
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}
inline void darken(uint8_t* p, int num, int den) {
  p[0] = static_cast<uint8_t>(p[0] * num / den);
  p[1] = static_cast<uint8_t>(p[1] * num / den);
  p[2] = static_cast<uint8_t>(p[2] * num / den);
}
inline void add_glow(uint8_t* p, Rgb c, float a) {
  p[0] = static_cast<uint8_t>(std::min(255.0f, p[0] + c.r * a));
  p[1] = static_cast<uint8_t>(std::min(255.0f, p[1] + c.g * a));
  p[2] = static_cast<uint8_t>(std::min(255.0f, p[2] + c.b * a));
}

struct Palette {
  Rgb g_dark, g_base, g_light;    // ground tones
  Rgb speck_a, speck_b;           // ground detail
  Rgb path, path_edge;
  Rgb shore, shallow, deep, glint;
  Rgb canopy_out, canopy_dark, canopy_mid, canopy_light, trunk;
  Rgb small_a, small_b, small_c, small_center;
  Rgb rock_dark, rock_light;
  Rgb plant, plant_top;           // reeds, tufts
  Rgb body, head, legs;           // creatures
  Rgb bird;
  Rgb particle_a, particle_b;
  int shadow_num;                 // shadows multiply by shadow_num / 16
};

// The palette of theme t (one static table, themes by index).
const Palette& palette(Theme t);

}  // namespace wl::oracle
