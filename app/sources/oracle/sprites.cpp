// The sprites (see sprites.h). Sprite positions are dyadic fractions of a
// texel, so moving the camera by whole texels shifts them by exactly that
// many texels.
#include "app/sources/oracle/sprites.h"

namespace wl::oracle {

namespace {

enum class Feature : uint8_t { None, Tree, Small, Rock, ShorePlant, Floater };

struct TileFeature {
  Feature kind = Feature::None;
  float jx = 0, jy = 0;  // offset from the tile centre, multiples of 1/8 texel
  uint64_t var = 0;      // variant bits
};

inline float sq(float x) { return x * x; }

TileFeature tile_feature(uint64_t seed, int64_t tx, int64_t ty) {
  TileFeature f;
  const int64_t x = tx * 8 + 4, y = ty * 8 + 4;
  const float e = combine_e(value_noise(seed, kSaltE64, 6, x, y), value_noise(seed, kSaltE32, 5, x, y),
                            value_noise(seed, kSaltE16, 4, x, y), value_noise(seed, kSaltE8, 3, x, y));
  const uint64_t h = hash2(seed, tx, ty, kSaltTile);
  const float r = unitf(h);
  f.var = hash2(seed, tx, ty, kSaltTileVar);
  const uint64_t j = hash2(seed, tx, ty, kSaltTileJit);
  f.jx = static_cast<float>(static_cast<int>(j & 31) - 16) / 8.0f;          // -2 .. +1.875
  f.jy = static_cast<float>(static_cast<int>((j >> 5) & 31) - 16) / 8.0f;
  if (e < kDeep + 0.01f) return f;
  if (e < kLiquid - 0.012f) {
    if (r < 0.16f) f.kind = Feature::Floater;
    return f;
  }
  if (e < kLiquid + 0.01f) return f;
  if (e < kShore + 0.012f) {
    if (r < 0.35f) f.kind = Feature::ShorePlant;
    return f;
  }
  const float p = combine_p(value_noise(seed, kSaltP64, 6, x, y), value_noise(seed, kSaltP32, 5, x, y));
  if (std::fabs(p - 0.5f) < kPathEdge + 0.03f) {
    if (r < 0.10f) f.kind = Feature::Small;
    return f;
  }
  const float m = value_noise(seed, kSaltM, 5, x, y);
  const float tree_p = std::clamp((m - 0.42f) * 2.4f, 0.0f, 0.72f) + 0.04f;
  if (r < tree_p) f.kind = Feature::Tree;
  else if (r < tree_p + 0.20f) f.kind = Feature::Small;
  else if (r < tree_p + 0.25f) f.kind = Feature::Rock;
  return f;
}

// ---------------------------------------------------------------- sprites

void draw_shadow(const Frame& fr, float sx, float sy, float rx, float ry) {
  const int num = fr.pal->shadow_num;
  const float irx = 1.0f / (rx * rx), iry = 1.0f / (ry * ry);
  fr.draw(sx, sy, -rx, -ry, rx, ry, [&](float lx, float ly, uint8_t* p) {
    if (lx * lx * irx + ly * ly * iry <= 1.0f) darken(p, num, 16);
  });
}

// The desert keeps every other tree slot as open sand with a shrub.
inline Feature themed_kind(const Frame& fr, const TileFeature& f) {
  if (f.kind == Feature::Tree && fr.theme == Theme::Desert && ((f.var >> 10) & 1)) return Feature::Small;
  return f.kind;
}

void feature_shadow(const Frame& fr, const TileFeature& f, float sx, float sy) {
  switch (themed_kind(fr, f)) {
    case Feature::Tree:
      switch (fr.theme) {
        case Theme::Snow: draw_shadow(fr, sx + 2.0f, sy + 3.0f, 4.5f, 2.5f); break;
        case Theme::Desert: draw_shadow(fr, sx + 3.0f, sy + 3.0f, 4.0f, 1.75f); break;
        case Theme::Lava: break;
        default: draw_shadow(fr, sx + 1.5f, sy + 2.5f, 5.5f, 3.5f); break;
      }
      break;
    case Feature::Rock: draw_shadow(fr, sx + 1.0f, sy + 1.25f, 2.75f, 1.75f); break;
    default: break;
  }
}

// Round canopy (meadow, autumn) or willow (swamp).
void draw_round_tree(const Frame& fr, const TileFeature& f, float sx, float sy) {
  const Palette& pl = *fr.pal;
  Rgb out = pl.canopy_out, dark = pl.canopy_dark, mid = pl.canopy_mid, light = pl.canopy_light;
  if (fr.theme == Theme::Autumn) {
    static const Rgb kMid[3] = {{226, 118, 30}, {204, 52, 30}, {236, 184, 40}};
    static const Rgb kLight[3] = {{250, 176, 70}, {236, 100, 60}, {252, 226, 110}};
    static const Rgb kDark[3] = {{168, 70, 20}, {140, 28, 20}, {180, 122, 20}};
    const int v = static_cast<int>(f.var % 3);
    mid = kMid[v];
    light = kLight[v];
    dark = kDark[v];
  }
  const bool willow = fr.theme == Theme::Swamp;
  const float r = 4.75f + static_cast<float>((f.var >> 8) & 3) * 0.25f;
  // trunk
  fr.draw(sx, sy, -1.0f, 0.0f, 1.0f, 4.0f, [&](float, float, uint8_t* p) { put(p, pl.trunk); });
  const float cy = -1.5f;
  fr.draw(sx, sy, -r - 0.5f, cy - r, r + 0.5f, willow ? cy + r + 2.5f : cy + r, [&](float lx, float ly, uint8_t* p) {
    const float dy = ly - cy;
    float d2 = lx * lx + dy * dy;
    if (willow && dy > 0.0f) {
      // hanging strands below the crown
      const int strand = static_cast<int>(std::floor((lx + 8.0f) * 1.0f));
      if ((strand & 1) == 0 && std::fabs(lx) < r - 0.5f && dy < r + 2.5f - std::fabs(lx) * 0.3f) {
        put(p, (strand & 2) ? mid : dark);
        return;
      }
    }
    if (d2 > r * r) return;
    if (d2 > (r - 0.9f) * (r - 0.9f)) {
      put(p, out);
      return;
    }
    const float lit = -(lx * 0.7f + dy * 0.7f) / r;
    // leaf clusters: texel-sized bumps
    const uint64_t h = mix64(f.var ^ (static_cast<uint64_t>(static_cast<int>(std::floor(lx + 8)) * 16 +
                                                            static_cast<int>(std::floor(dy + 8)))));
    const float n = unitf(h) * 0.35f - 0.17f;
    const float v = lit + n;
    put(p, v > 0.42f ? light : v < -0.25f ? dark : mid);
  });
}

void draw_pine(const Frame& fr, const TileFeature& f, float sx, float sy) {
  const Palette& pl = *fr.pal;
  fr.draw(sx, sy, -0.75f, 1.0f, 0.75f, 4.0f, [&](float, float, uint8_t* p) { put(p, pl.trunk); });
  const float scale = 1.0f + static_cast<float>((f.var >> 8) & 3) * 0.08f;
  for (int tier = 0; tier < 3; ++tier) {
    const float top = (-9.0f + tier * 3.0f) * scale, bottom = top + 5.0f * scale;
    const float hw = (2.5f + tier * 1.2f) * scale;
    fr.draw(sx, sy, -hw, top, hw, bottom, [&](float lx, float ly, uint8_t* p) {
      const float frac = (ly - top) / (bottom - top);
      const float half = hw * frac;
      if (std::fabs(lx) > half) return;
      if (ly > bottom - 0.8f || std::fabs(lx) > half - 0.7f) {
        put(p, lx < 0.0f || ly > bottom - 0.8f ? pl.canopy_light : pl.canopy_out);
        return;
      }
      if (frac < 0.38f || (ly < top + 2.2f * scale && lx < 0.0f)) {
        put(p, pl.g_light);  // snow on the tier
        return;
      }
      put(p, lx < -0.5f ? pl.canopy_mid : pl.canopy_dark);
    });
  }
}

void draw_cactus(const Frame& fr, const TileFeature& f, float sx, float sy) {
  const Palette& pl = *fr.pal;
  const bool flip = (f.var >> 9) & 1;
  auto shade = [&](float across, float half, uint8_t* p) {
    const float u = across / half;  // -1..1
    if (u < -0.45f) put(p, pl.canopy_light);
    else if (u > 0.5f) put(p, pl.canopy_dark);
    else put(p, pl.canopy_mid);
  };
  fr.draw(sx, sy, -5.0f, -8.0f, 5.0f, 3.0f, [&](float lx, float ly, uint8_t* p) {
    if (flip) lx = -lx;
    // trunk with a rounded top
    if (std::fabs(lx) <= 1.5f && ly <= 3.0f && (ly >= -6.5f || sq(lx) + sq(ly + 6.5f) <= 2.25f)) {
      if (std::fabs(lx) > 1.0f && ((static_cast<int>(std::floor(ly * 2)) & 3) == 0)) put(p, pl.small_c);
      else shade(lx, 1.5f, p);
      return;
    }
    // left arm: out at y -1, up to y -4.5
    if (ly >= -1.75f && ly <= -0.25f && lx >= -4.25f && lx <= -1.5f) { shade(ly + 1.0f, 0.75f, p); return; }
    if (lx >= -4.5f && lx <= -3.0f && ly <= -1.0f && (ly >= -4.0f || sq(lx + 3.75f) + sq(ly + 4.0f) <= 0.6f)) {
      shade(lx + 3.75f, 0.75f, p);
      return;
    }
    // right arm: out at y -3, up to y -5.5
    if (ly >= -3.5f && ly <= -2.25f && lx >= 1.5f && lx <= 3.75f) { shade(ly + 2.9f, 0.65f, p); return; }
    if (lx >= 2.5f && lx <= 3.75f && ly <= -2.5f && (ly >= -5.25f || sq(lx - 3.1f) + sq(ly + 5.25f) <= 0.45f)) {
      shade(lx - 3.1f, 0.65f, p);
    }
  });
}

void draw_spire(const Frame& fr, const TileFeature& f, float sx, float sy) {
  const Palette& pl = *fr.pal;
  const float hgt = 9.0f + static_cast<float>((f.var >> 8) & 3);
  const float glow = 0.55f + 0.45f * fsin(*fr.sn, fr.t * 0.11f + static_cast<float>(f.var & 63));
  // glow on the ground around the foot
  fr.draw(sx, sy, -5.0f, 0.0f, 5.0f, 4.0f, [&](float lx, float ly, uint8_t* p) {
    const float d = sq(lx / 5.0f) + sq((ly - 2.0f) / 2.0f);
    if (d < 1.0f) add_glow(p, {255, 80, 20}, 0.35f * glow * (1.0f - d));
  });
  fr.draw(sx, sy, -3.5f, 2.5f - hgt, 3.5f, 2.5f, [&](float lx, float ly, uint8_t* p) {
    const float frac = (ly - (2.5f - hgt)) / hgt;  // 0 top .. 1 foot
    const float jag = (static_cast<int>(std::floor(ly)) & 1) ? 0.4f : 0.0f;
    const float half = 3.2f * frac + 0.3f - jag * frac;
    if (std::fabs(lx) > half) return;
    if (frac > 0.78f && std::fabs(lx) > half - 1.0f) put(p, lerp(pl.canopy_mid, {255, 100, 30}, glow));
    else if (lx < -half + 1.0f) put(p, pl.canopy_light);
    else if (lx > 0.4f) put(p, pl.canopy_out);
    else put(p, pl.canopy_dark);
  });
}

void draw_tree(const Frame& fr, const TileFeature& f, float sx, float sy) {
  switch (fr.theme) {
    case Theme::Snow: draw_pine(fr, f, sx, sy); break;
    case Theme::Desert: draw_cactus(fr, f, sx, sy); break;
    case Theme::Lava: draw_spire(fr, f, sx, sy); break;
    default: draw_round_tree(fr, f, sx, sy); break;
  }
}

void draw_fire(const Frame& fr, const TileFeature& f, float sx, float sy) {
  const Palette& pl = *fr.pal;
  const int64_t tick = fr.t / 2;
  const uint64_t fl = hash2(fr.seed, static_cast<int64_t>(f.var & 0xffff), tick, kSaltFlicker);
  const float flick = unitf(fl);
  const float hgt = 3.0f + 2.0f * flick;
  const float lean = (static_cast<float>((fl >> 8) & 3) - 1.5f) * 0.25f;
  // warm glow on the ground
  fr.draw(sx, sy, -4.5f, -2.5f, 4.5f, 3.5f, [&](float lx, float ly, uint8_t* p) {
    const float d = sq(lx / 4.5f) + sq((ly - 0.5f) / 3.0f);
    if (d < 1.0f) add_glow(p, {255, 110, 30}, (0.25f + 0.2f * flick) * (1.0f - d));
  });
  // logs / embers bed
  fr.draw(sx, sy, -2.0f, 0.25f, 2.0f, 1.5f, [&](float, float, uint8_t* p) { put(p, {60, 20, 10}); });
  fr.draw(sx, sy, -2.0f, -hgt, 2.0f, 0.75f, [&](float lx, float ly, uint8_t* p) {
    const float u = (0.75f - ly) / (hgt + 0.75f);  // 0 base .. 1 tip
    const float half = 1.9f * (1.0f - u) * (0.6f + 0.4f * (1.0f - u));
    const float x = lx - lean * u * hgt;
    if (std::fabs(x) > half) return;
    const float core = std::fabs(x) / std::max(half, 0.01f);
    if (u < 0.45f && core < 0.5f) put(p, pl.small_c);
    else if (u < 0.75f && core < 0.8f) put(p, pl.small_b);
    else put(p, pl.small_a);
  });
}

void draw_flowers(const Frame& fr, const TileFeature& f, float sx, float sy) {
  const Palette& pl = *fr.pal;
  const Rgb petals[3] = {pl.small_a, pl.small_b, pl.small_c};
  const Rgb col = petals[(f.var >> 12) % 3];
  const int n = 3 + static_cast<int>((f.var >> 16) & 1);
  for (int i = 0; i < n; ++i) {
    const uint64_t h = mix64(f.var + i * 0x9E37ull);
    const float ox = static_cast<float>(static_cast<int>(h & 15) - 8) * 0.375f;
    const float oy = static_cast<float>(static_cast<int>((h >> 4) & 15) - 8) * 0.375f;
    fr.draw(sx + ox, sy + oy, -1.25f, -1.25f, 1.25f, 1.25f, [&](float lx, float ly, uint8_t* p) {
      const float d = lx * lx + ly * ly;
      if (d <= 0.3f) put(p, pl.small_center);
      else if (d <= 1.5f) put(p, col);
    });
  }
}

void draw_bush(const Frame& fr, const TileFeature& f, float sx, float sy) {
  // snowy bush: dark dome with a white cap
  const Palette& pl = *fr.pal;
  fr.draw(sx, sy, -2.5f, -2.5f, 2.5f, 1.0f, [&](float lx, float ly, uint8_t* p) {
    const float d = sq(lx / 2.5f) + sq((ly - 0.5f) / 3.0f);
    if (d > 1.0f || ly > 1.0f) return;
    put(p, ly < -1.0f + lx * 0.2f ? pl.small_c : ((f.var >> 3) & 1 ? pl.small_a : pl.small_b));
  });
}

void draw_shrub(const Frame& fr, const TileFeature& f, float sx, float sy) {
  // dry desert shrub: a tangle of brown twigs
  const Palette& pl = *fr.pal;
  fr.draw(sx, sy, -2.5f, -2.5f, 2.5f, 1.0f, [&](float lx, float ly, uint8_t* p) {
    const float d = sq(lx / 2.5f) + sq((ly + 0.75f) / 1.75f);
    if (d > 1.0f) return;
    const int ix = static_cast<int>(std::floor(lx * 1.5f + 8)), iy = static_cast<int>(std::floor(ly * 1.5f + 8));
    if (((ix + iy) & 1) == 0 || ((ix - iy) & 3) == 0) put(p, d < 0.5f ? pl.small_b : pl.small_a);
  });
}

void draw_reeds(const Frame& fr, const TileFeature& f, float sx, float sy, Rgb stem, Rgb top, bool heads) {
  const int n = 3 + static_cast<int>(f.var & 1);
  for (int i = 0; i < n; ++i) {
    const uint64_t h = mix64(f.var * 31 + i);
    const float ox = static_cast<float>(static_cast<int>(h & 7) - 4) * 0.625f;
    const float hgt = 4.0f + static_cast<float>((h >> 3) & 3);
    const float sway = 0.6f * fsin(*fr.sn, fr.t * 0.09f + static_cast<float>((h >> 8) & 63));
    fr.draw(sx + ox, sy, -1.5f, -hgt - 1.0f, 1.5f, 1.0f, [&](float lx, float ly, uint8_t* p) {
      const float u = (1.0f - ly) / (hgt + 1.0f);  // 0 base .. 1 top
      const float x = lx - sway * u;
      if (heads && ly < -hgt + 1.5f && ly > -hgt - 0.5f && std::fabs(x) < 0.6f) { put(p, top); return; }
      if (std::fabs(x) < 0.35f) put(p, stem);
    });
  }
}

void draw_mushrooms(const Frame& fr, const TileFeature& f, float sx, float sy) {
  const Palette& pl = *fr.pal;
  if ((f.var >> 5) & 1) {
    // a pile of fallen leaves
    fr.draw(sx, sy, -3.0f, -2.0f, 3.0f, 2.0f, [&](float lx, float ly, uint8_t* p) {
      if (sq(lx / 3.0f) + sq(ly / 2.0f) > 1.0f) return;
      const uint64_t h = mix64(f.var ^ static_cast<uint64_t>(static_cast<int>(std::floor(lx + 4)) * 8 +
                                                            static_cast<int>(std::floor(ly + 4))));
      static const Rgb kLeaf[4] = {{220, 80, 20}, {240, 170, 40}, {180, 40, 20}, {200, 120, 30}};
      put(p, kLeaf[h & 3]);
    });
    return;
  }
  for (int i = 0; i < 2; ++i) {
    const float ox = i == 0 ? -1.0f : 1.5f, oy = i == 0 ? 0.0f : 1.0f;
    fr.draw(sx + ox, sy + oy, -1.75f, -1.75f, 1.75f, 1.5f, [&](float lx, float ly, uint8_t* p) {
      if (ly > -0.25f) {
        if (std::fabs(lx) < 0.5f) put(p, pl.small_b);
        return;
      }
      if (sq(lx / 1.75f) + sq((ly + 0.25f) / 1.5f) > 1.0f) return;
      put(p, (std::fabs(lx + 0.6f) < 0.35f && std::fabs(ly + 1.0f) < 0.35f) ? pl.small_b : pl.small_a);
    });
  }
}

void draw_rock(const Frame& fr, const TileFeature& f, float sx, float sy) {
  const Palette& pl = *fr.pal;
  const float rx = 2.25f + static_cast<float>((f.var >> 20) & 1) * 0.5f, ry = 1.75f;
  fr.draw(sx, sy, -rx, -ry - 0.5f, rx, ry, [&](float lx, float ly, uint8_t* p) {
    const float d = sq(lx / rx) + sq((ly + 0.25f) / ry);
    if (d > 1.0f) return;
    put(p, (lx + ly) < -1.0f ? pl.rock_light : pl.rock_dark);
  });
}

void draw_floater(const Frame& fr, const TileFeature& f, float sx, float sy) {
  // bobbing lily pads, ice floes, crusted lava, drifting leaves
  const float drift = 0.5f * fsin(*fr.sn, fr.t * 0.05f + static_cast<float>(f.var & 63));
  sx += std::round(drift * 4.0f) / 4.0f;
  switch (fr.theme) {
    case Theme::Desert: return;
    case Theme::Lava:
      fr.draw(sx, sy, -2.5f, -1.75f, 2.5f, 1.75f, [&](float lx, float ly, uint8_t* p) {
        const float d = sq(lx / 2.5f) + sq(ly / 1.75f);
        if (d <= 1.0f) put(p, d > 0.6f ? Rgb{110, 30, 12} : Rgb{44, 30, 34});
      });
      return;
    case Theme::Snow:
      fr.draw(sx, sy, -3.0f, -2.0f, 3.0f, 2.0f, [&](float lx, float ly, uint8_t* p) {
        if (std::fabs(lx) + std::fabs(ly) * 1.4f <= 3.0f) put(p, ly < 0.0f ? Rgb{250, 252, 255} : Rgb{200, 220, 236});
      });
      return;
    case Theme::Autumn:
      fr.draw(sx, sy, -1.5f, -1.0f, 1.5f, 1.0f, [&](float lx, float ly, uint8_t* p) {
        if (sq(lx / 1.5f) + sq(ly) <= 1.0f) put(p, (f.var & 1) ? Rgb{230, 110, 30} : Rgb{200, 50, 30});
      });
      return;
    default:
      fr.draw(sx, sy, -2.0f, -2.0f, 2.0f, 2.0f, [&](float lx, float ly, uint8_t* p) {
        const float d = lx * lx + ly * ly;
        if (d > 3.6f) return;
        if (lx > 0.0f && std::fabs(ly) < lx * 0.5f) return;  // the notch
        put(p, d > 2.0f ? Rgb{40, 110, 40} : Rgb{70, 150, 56});
        if (fr.theme == Theme::Meadow && d < 0.5f && ((f.var >> 2) & 1)) put(p, {250, 160, 200});
      });
      return;
  }
}

void draw_feature(const Frame& fr, const TileFeature& f, float sx, float sy) {
  const Palette& pl = *fr.pal;
  switch (themed_kind(fr, f)) {
    case Feature::None: return;
    case Feature::Tree: draw_tree(fr, f, sx, sy); return;
    case Feature::Rock: draw_rock(fr, f, sx, sy); return;
    case Feature::Floater: draw_floater(fr, f, sx, sy); return;
    case Feature::ShorePlant: draw_reeds(fr, f, sx, sy, pl.plant, pl.plant_top, fr.theme == Theme::Swamp || fr.theme == Theme::Meadow || fr.theme == Theme::Autumn); return;
    case Feature::Small:
      switch (fr.theme) {
        case Theme::Meadow: draw_flowers(fr, f, sx, sy); return;
        case Theme::Snow: draw_bush(fr, f, sx, sy); return;
        case Theme::Desert:
          if ((f.var >> 6) & 1) draw_rock(fr, f, sx, sy);
          else draw_shrub(fr, f, sx, sy);
          return;
        case Theme::Lava: draw_fire(fr, f, sx, sy); return;
        case Theme::Swamp: draw_reeds(fr, f, sx, sy, pl.small_a, pl.small_b, true); return;
        case Theme::Autumn: draw_mushrooms(fr, f, sx, sy); return;
      }
      return;
  }
}

// Creatures wander between hashed waypoints inside 32x32-texel cells.
constexpr int kCreatureShift = 5;
constexpr int64_t kCreaturePeriod = 72;  // frames per leg: 44 walking, 28 resting
constexpr int64_t kCreatureWalk = 44;

void creature_pos(uint64_t seed, int64_t cx, int64_t cy, int64_t leg, float& x, float& y) {
  const uint64_t h = hash2(seed ^ 0x5bd1e995ull, cx * 4096 + cy, leg, kSaltCreature);
  x = 6.0f + static_cast<float>(h & 255) * (20.0f / 256.0f);
  y = 6.0f + static_cast<float>((h >> 8) & 255) * (20.0f / 256.0f);
}

void draw_creatures(const Frame& fr) {
  const Palette& pl = *fr.pal;
  const int64_t s = int64_t{1} << kCreatureShift;
  const int64_t x0 = (fr.cx - 8) >> kCreatureShift, x1 = (fr.cx + static_cast<int64_t>(fr.view_w) + 8) >> kCreatureShift;
  const int64_t y0 = (fr.cy - 8) >> kCreatureShift, y1 = (fr.cy + static_cast<int64_t>(fr.view_h) + 8) >> kCreatureShift;
  for (int64_t cy = y0; cy <= y1; ++cy) {
    for (int64_t cx = x0; cx <= x1; ++cx) {
      const uint64_t h = hash2(fr.seed, cx, cy, kSaltCreature);
      if (unitf(h) > 0.38f) continue;
      const int64_t phase = static_cast<int64_t>((h >> 20) % kCreaturePeriod);
      const int64_t tt = fr.t + phase;
      const int64_t leg = tt / kCreaturePeriod, in = tt % kCreaturePeriod;
      float ax, ay, bx, by;
      creature_pos(fr.seed, cx, cy, leg, ax, ay);
      creature_pos(fr.seed, cx, cy, leg + 1, bx, by);
      const float u = in >= kCreatureWalk ? 1.0f : static_cast<float>(in) / kCreatureWalk;
      const bool walking = in < kCreatureWalk;
      // quarter-texel positions keep the picture stable under camera moves
      const float wx = std::round((ax + (bx - ax) * u) * 4.0f) / 4.0f;
      const float wy = std::round((ay + (by - ay) * u) * 4.0f) / 4.0f;
      const float sx = static_cast<float>(cx * s - fr.cx) + wx;
      const float sy = static_cast<float>(cy * s - fr.cy) + wy;
      const float face = bx >= ax ? 1.0f : -1.0f;
      const int step = walking ? static_cast<int>((fr.t / 4) & 1) : 0;
      const bool frog = fr.theme == Theme::Swamp;
      const float hop = frog && walking ? -std::fabs(fsin(*fr.sn, fr.t * 0.4f)) * 1.5f : 0.0f;
      draw_shadow(fr, sx, sy + 2.0f, 3.0f, 1.25f);
      if (fr.theme == Theme::Lava) {
        fr.draw(sx, sy, -5.0f, -4.0f, 5.0f, 4.0f, [&](float lx, float ly, uint8_t* p) {
          const float d = sq(lx / 5.0f) + sq(ly / 4.0f);
          if (d < 1.0f) add_glow(p, {255, 100, 20}, 0.3f * (1.0f - d));
        });
      }
      fr.draw(sx, sy + hop, -4.0f, -3.0f, 4.0f, 3.0f, [&](float lx, float ly, uint8_t* p) {
        lx *= face;
        // legs
        if (!frog && ly > 0.75f && ly < 2.5f) {
          const float l1 = step ? -1.5f : -1.0f, l2 = step ? 1.0f : 1.5f;
          if (std::fabs(lx - l1) < 0.4f || std::fabs(lx - l2) < 0.4f) put(p, pl.legs);
          return;
        }
        // head
        if (sq(lx - 2.4f) + sq(ly + 0.9f) <= 1.3f) {
          put(p, (std::fabs(lx - 2.9f) < 0.3f && std::fabs(ly + 1.2f) < 0.3f) ? Rgb{255, 255, 255} : pl.head);
          return;
        }
        // tail
        if (!frog && lx < -2.2f && lx > -3.6f && std::fabs(ly + 0.6f + (lx + 2.2f) * 0.4f) < 0.45f) {
          put(p, fr.theme == Theme::Snow ? Rgb{250, 250, 250} : pl.legs);
          return;
        }
        const float d = sq(lx / 2.7f) + sq(ly / 1.7f);
        if (d > 1.0f) return;
        if (fr.theme == Theme::Lava && (static_cast<int>(std::floor(lx * 1.5f + 8)) & 1) && ly < 0.0f) {
          put(p, {255, 230, 90});
          return;
        }
        put(p, ly < -0.6f ? lerp(pl.body, {255, 255, 255}, 0.25f) : pl.body);
      });
    }
  }
}

// Birds glide in straight lines through 128x128-texel cells.
constexpr int kBirdShift = 7;

void draw_birds(const Frame& fr) {
  const Palette& pl = *fr.pal;
  const int64_t s = int64_t{1} << kBirdShift;
  const int64_t x0 = (fr.cx - 16) >> kBirdShift, x1 = (fr.cx + static_cast<int64_t>(fr.view_w) + 16) >> kBirdShift;
  const int64_t y0 = (fr.cy - 16) >> kBirdShift, y1 = (fr.cy + static_cast<int64_t>(fr.view_h) + 16) >> kBirdShift;
  for (int64_t cy = y0; cy <= y1; ++cy) {
    for (int64_t cx = x0; cx <= x1; ++cx) {
      const uint64_t h = hash2(fr.seed, cx, cy, kSaltBird);
      if (unitf(h) > 0.7f) continue;
      static const int kDir[8][2] = {{4, 0}, {-4, 0}, {3, 2}, {-3, 2}, {3, -2}, {-3, -2}, {0, 4}, {2, -3}};
      const int* d = kDir[(h >> 24) & 7];
      // quarter texels per frame, wrapped to the cell
      const int64_t ox = static_cast<int64_t>((h >> 32) & 511), oy = static_cast<int64_t>((h >> 41) & 511);
      const int64_t qx = ((ox + d[0] * fr.t) % 512 + 512) % 512, qy = ((oy + d[1] * fr.t) % 512 + 512) % 512;
      const float sx = static_cast<float>(cx * s - fr.cx) + static_cast<float>(qx) / 4.0f;
      const float sy = static_cast<float>(cy * s - fr.cy) + static_cast<float>(qy) / 4.0f;
      const float flap = fsin(*fr.sn, fr.t * 0.45f + static_cast<float>(h & 63));
      auto bird = [&](float lx, float ly, uint8_t* p, bool shadow) {
        const float ax = std::fabs(lx);
        if (ax > 3.25f) return;
        const float wing = -ax * 0.55f * flap;  // wing line
        if (std::fabs(ly - wing) < 0.55f || (ax < 0.6f && std::fabs(ly) < 0.7f)) {
          if (shadow) darken(p, 11, 16);
          else put(p, pl.bird);
        }
      };
      fr.draw(sx + 5.0f, sy + 7.0f, -3.5f, -2.5f, 3.5f, 2.5f,
              [&](float lx, float ly, uint8_t* p) { bird(lx, ly, p, true); });
      fr.draw(sx, sy, -3.5f, -2.5f, 3.5f, 2.5f, [&](float lx, float ly, uint8_t* p) { bird(lx, ly, p, false); });
    }
  }
}

// Weather: one particle per cell, wrapping inside its cell as it moves.
void draw_particles(const Frame& fr) {
  const Palette& pl = *fr.pal;
  int shift = 4;
  float density = 0.5f;
  int vx = 0, vy = 0;  // eighth texels per frame
  switch (fr.theme) {
    case Theme::Snow: shift = 3; density = 0.55f; vx = 1; vy = 5; break;
    case Theme::Autumn: shift = 4; density = 0.45f; vx = 3; vy = 4; break;
    case Theme::Lava: shift = 4; density = 0.6f; vx = 0; vy = -4; break;
    case Theme::Swamp: shift = 4; density = 0.4f; vx = 0; vy = 0; break;
    case Theme::Desert: shift = 4; density = 0.3f; vx = 14; vy = 1; break;
    case Theme::Meadow: shift = 5; density = 0.35f; vx = 0; vy = 0; break;
  }
  const int64_t s = int64_t{1} << shift;
  const int64_t m = s * 8;  // cell size in eighth texels
  const int64_t x0 = (fr.cx - 2) >> shift, x1 = (fr.cx + static_cast<int64_t>(fr.view_w) + 2) >> shift;
  const int64_t y0 = (fr.cy - 2) >> shift, y1 = (fr.cy + static_cast<int64_t>(fr.view_h) + 2) >> shift;
  for (int64_t cy = y0; cy <= y1; ++cy) {
    for (int64_t cx = x0; cx <= x1; ++cx) {
      const uint64_t h = hash2(fr.seed, cx, cy, kSaltParticle);
      if (unitf(h) > density) continue;
      const int64_t ox = static_cast<int64_t>((h >> 24) & 1023), oy = static_cast<int64_t>((h >> 34) & 1023);
      const float ph = static_cast<float>((h >> 44) & 63);
      int64_t qx = ox + vx * fr.t, qy = oy + vy * fr.t;
      // sway / wander
      if (fr.theme == Theme::Snow || fr.theme == Theme::Autumn)
        qx += static_cast<int64_t>(std::lround(10.0f * fsin(*fr.sn, fr.t * 0.07f + ph)));
      if (fr.theme == Theme::Swamp || fr.theme == Theme::Meadow) {
        qx += static_cast<int64_t>(std::lround(40.0f * fsin(*fr.sn, fr.t * 0.031f + ph)));
        qy += static_cast<int64_t>(std::lround(32.0f * fsin(*fr.sn, fr.t * 0.043f + ph * 1.7f)));
      }
      qx = ((qx % m) + m) % m;
      qy = ((qy % m) + m) % m;
      const float sx = static_cast<float>(cx * s - fr.cx) + static_cast<float>(qx) / 8.0f;
      const float sy = static_cast<float>(cy * s - fr.cy) + static_cast<float>(qy) / 8.0f;
      switch (fr.theme) {
        case Theme::Snow: {
          const bool big = (h >> 60) & 1;
          const float r = big ? 1.0f : 0.5f;
          fr.draw(sx, sy, -r, -r, r, r, [&](float, float, uint8_t* p) { put(p, pl.particle_a); });
          break;
        }
        case Theme::Autumn: {
          const Rgb c = (h >> 61) & 1 ? pl.particle_a : pl.particle_b;
          const bool tilt = fsin(*fr.sn, fr.t * 0.2f + ph) > 0.0f;
          fr.draw(sx, sy, -1.0f, -0.5f, 1.0f, 0.5f, [&](float lx, float ly, uint8_t* p) {
            if (tilt ? lx < 0.5f : lx > -0.5f) put(p, c);
          });
          break;
        }
        case Theme::Lava: {
          const float b = 0.5f + 0.5f * fsin(*fr.sn, fr.t * 0.5f + ph);
          fr.draw(sx, sy, -0.5f, -0.5f, 0.5f, 0.5f, [&](float, float, uint8_t* p) { put(p, lerp(pl.particle_a, pl.particle_b, b)); });
          break;
        }
        case Theme::Swamp: {
          const float b = fsin(*fr.sn, fr.t * 0.15f + ph);
          if (b < 0.1f) break;
          fr.draw(sx, sy, -2.0f, -2.0f, 2.0f, 2.0f, [&](float lx, float ly, uint8_t* p) {
            const float d = lx * lx + ly * ly;
            if (d < 0.4f) put(p, pl.particle_a);
            else if (d < 4.0f) add_glow(p, pl.particle_b, 0.35f * b * (1.0f - d / 4.0f));
          });
          break;
        }
        case Theme::Desert:
          fr.draw(sx, sy, -1.5f, -0.5f, 1.5f, 0.5f, [&](float, float, uint8_t* p) { put(p, pl.particle_a); });
          break;
        case Theme::Meadow: {
          // butterflies: two wings that open and close
          const bool open = ((fr.t / 3) + static_cast<int64_t>(ph)) & 1;
          const Rgb c = (h >> 62) & 1 ? pl.particle_a : pl.particle_b;
          fr.draw(sx, sy, -1.0f, -0.5f, 1.0f, 0.5f, [&](float lx, float, uint8_t* p) {
            if (open || std::fabs(lx) < 0.6f) put(p, c);
          });
          break;
        }
      }
    }
  }
}

}  // namespace

void draw_sprites(const Frame& fr) {
  // the view's last texel column and row (camera-relative)
  const int64_t last_x = static_cast<int64_t>(fr.view_w) - 1, last_y = static_cast<int64_t>(fr.view_h) - 1;
  const int64_t tx0 = (fr.cx - 8) >> 3, tx1 = (fr.cx + last_x + 9) >> 3;
  const int64_t ty0 = (fr.cy - 8) >> 3, ty1 = (fr.cy + last_y + 14) >> 3;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t ty = ty0; ty <= ty1; ++ty) {
      for (int64_t tx = tx0; tx <= tx1; ++tx) {
        const TileFeature f = tile_feature(fr.seed, tx, ty);
        if (f.kind == Feature::None) continue;
        const float sx = static_cast<float>(tx * 8 + 4 - fr.cx) + f.jx;
        const float sy = static_cast<float>(ty * 8 + 4 - fr.cy) + f.jy;
        if (pass == 0) feature_shadow(fr, f, sx, sy);
        else draw_feature(fr, f, sx, sy);
      }
    }
  }
  draw_creatures(fr);
  draw_birds(fr);
  draw_particles(fr);
}

}  // namespace wl::oracle
