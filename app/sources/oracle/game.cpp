// The oracle game itself (see oracle.h): options, state, reset/step, the
// camera, the per-frame noise lattices and render().
//
// One frame = a per-pixel ground pass (value-noise fields sampled from
// lattices cached for the frame: lakes, paths, ground tone), here, followed by
// the sprite passes in world space (sprites.h): feature shadows, features (one
// slot per 8x8 tile), creatures, birds and weather particles. Everything is a
// function of the seed, integer world texels and the frame counter; sprite
// positions are dyadic fractions of a texel, so moving the camera by whole
// texels shifts the picture by exactly that many texels.
//
// The noise is noise.h, the colours palette.h, theme names and prompt
// matching themes.cpp.
#include "app/sources/oracle/oracle.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "app/sources/oracle/noise.h"
#include "app/sources/oracle/palette.h"
#include "app/sources/oracle/sprites.h"

namespace wl::oracle {

OracleGame::OracleGame(OracleOptions options) : opt_(options) {
  if (opt_.width < 8 || opt_.height < 8 || opt_.width > 512 || opt_.height > 512)
    throw std::invalid_argument("oracle: frame size must be 8..512 pixels per side");
  if (opt_.width > 4 * opt_.height || opt_.height > 4 * opt_.width)
    throw std::invalid_argument("oracle: aspect ratio beyond 4:1");
  const float k = opt_.height / 64.0f;  // pixels per texel
  texel_x_.resize(opt_.width);
  itexel_x_.resize(opt_.width);
  texel_y_.resize(opt_.height);
  itexel_y_.resize(opt_.height);
  for (int x = 0; x < opt_.width; ++x) {
    texel_x_[x] = (x + 0.5f) / k;
    itexel_x_[x] = static_cast<int32_t>(std::floor(texel_x_[x]));
  }
  for (int y = 0; y < opt_.height; ++y) {
    texel_y_[y] = (y + 0.5f) / k;
    itexel_y_[y] = static_cast<int32_t>(std::floor(texel_y_[y]));
  }
  const int view_w = itexel_x_.back() + 1, view_h = itexel_y_.back() + 1;
  for (int i = 0; i < kOctaves; ++i) {
    Octave& o = oct_[i];
    o.shift = kOctShift[i];
    const int nx = (view_w >> o.shift) + 3, ny = (view_h >> o.shift) + 3;
    o.lattice.resize(static_cast<size_t>(nx) * ny);
    o.col_i.resize(opt_.width);
    o.col_w.resize(opt_.width);
    o.row_i.resize(opt_.height);
    o.row_w.resize(opt_.height);
  }
}

void OracleGame::reset(uint64_t seed, Theme theme, int64_t x, int64_t y) {
  seed_ = seed;
  theme_ = theme;
  cam_x_ = x;
  cam_y_ = y;
  time_ = 0;
}

Motion OracleGame::motion_for(const FrameActions& a) const {
  Motion m;
  const int mv = opt_.move_texels, lk = opt_.look_texels;
  if (a.held(kActForward)) m.dy -= mv;
  if (a.held(kActBack)) m.dy += mv;
  if (a.held(kActLeft)) m.dx -= mv;
  if (a.held(kActRight)) m.dx += mv;
  if (a.held(kActLookUp)) m.dy -= lk;
  if (a.held(kActLookDown)) m.dy += lk;
  if (a.held(kActLookLeft)) m.dx -= lk;
  if (a.held(kActLookRight)) m.dx += lk;
  return m;
}

void OracleGame::step(const FrameActions& a, uint8_t* rgb) {
  const Motion m = motion_for(a);
  cam_x_ += m.dx;
  cam_y_ += m.dy;
  render(rgb);
  ++time_;
}

void OracleGame::prepare_octave(Octave& o, uint64_t salt) {
  const int64_t s = int64_t{1} << o.shift;
  const float inv = 1.0f / static_cast<float>(s);
  o.base_x = (cam_x_ + itexel_x_.front()) >> o.shift;
  o.base_y = (cam_y_ + itexel_y_.front()) >> o.shift;
  o.nx = static_cast<int>(((cam_x_ + itexel_x_.back()) >> o.shift) - o.base_x) + 2;
  o.ny = static_cast<int>(((cam_y_ + itexel_y_.back()) >> o.shift) - o.base_y) + 2;
  for (int j = 0; j < o.ny; ++j)
    for (int i = 0; i < o.nx; ++i)
      o.lattice[static_cast<size_t>(j) * o.nx + i] = unitf(hash2(seed_, o.base_x + i, o.base_y + j, salt));
  for (int x = 0; x < opt_.width; ++x) {
    const int64_t g = cam_x_ + itexel_x_[x];
    o.col_i[x] = static_cast<int32_t>((g >> o.shift) - o.base_x);
    o.col_w[x] = smooth((static_cast<float>(g & (s - 1)) + (texel_x_[x] - itexel_x_[x])) * inv);
  }
  for (int y = 0; y < opt_.height; ++y) {
    const int64_t g = cam_y_ + itexel_y_[y];
    o.row_i[y] = static_cast<int32_t>((g >> o.shift) - o.base_y);
    o.row_w[y] = smooth((static_cast<float>(g & (s - 1)) + (texel_y_[y] - itexel_y_[y])) * inv);
  }
}

void OracleGame::render(uint8_t* rgb) {
  const Theme th = theme_;
  const Palette& pl = palette(th);
  const SinTable& sn = sin_table();
  const int64_t t = opt_.animate ? time_ : 0;
  const float tf = static_cast<float>(t);
  const int W = opt_.width, H = opt_.height;

  for (int i = 0; i < kOctaves; ++i) prepare_octave(oct_[i], kOctSalt[i]);
  auto view = [&](int i) {
    const Octave& o = oct_[i];
    return OctView{o.lattice.data(), o.nx, o.col_i.data(), o.col_w.data(), o.row_i.data(), o.row_w.data()};
  };
  const OctView e64 = view(kOctE64), e32 = view(kOctE32), e16 = view(kOctE16), e8 = view(kOctE8);
  const OctView om = view(kOctM), p64 = view(kOctP64), p32 = view(kOctP32), og = view(kOctG);

  // ---- ground pass
  for (int py = 0; py < H; ++py) {
    const int64_t gy = cam_y_ + itexel_y_[py];
    const float fy = static_cast<float>(gy & 4095) + (texel_y_[py] - itexel_y_[py]);
    uint8_t* row = rgb + static_cast<size_t>(py) * W * 3;
    for (int px = 0; px < W; ++px) {
      uint8_t* p = row + px * 3;
      const int64_t gx = cam_x_ + itexel_x_[px];
      const float fx = static_cast<float>(gx & 4095) + (texel_x_[px] - itexel_x_[px]);
      const float e = combine_e(e64.at(px, py), e32.at(px, py), e16.at(px, py), e8.at(px, py));
      const float liquid_at = th == Theme::Swamp ? kLiquid + 0.03f : kLiquid;
      if (e < liquid_at) {
        // ---- liquid
        // ripples: wavy bands drifting down, broken into dashes
        const float band = fsin(sn, fy * 0.8f + 1.6f * fsin(sn, fx * 0.3f + tf * 0.05f) - tf * 0.12f);
        const float dash = fsin(sn, fx * 0.45f - fy * 0.2f + tf * 0.08f);
        const float w = band > 0.9f && dash > -0.2f ? 2.0f : band > 0.75f && dash > 0.3f ? 1.3f : 0.0f;
        if (th == Theme::Lava) {
          // molten flow with a static pattern of crust and bright seams
          const float g = og.at(px, py);
          const float flow = fsin(sn, fx * 0.35f + 1.2f * fsin(sn, fy * 0.25f + tf * 0.04f) + tf * 0.1f);
          if (g > 0.64f) put(p, g > 0.7f ? Rgb{70, 18, 10} : Rgb{150, 40, 12});
          else if (flow > 0.85f) put(p, pl.glint);
          else put(p, lerp(pl.deep, pl.shallow, 0.55f + 0.45f * flow));
          continue;
        }
        Rgb c = e < kDeep ? pl.deep : pl.shallow;
        if (th == Theme::Swamp) {
          c = lerp(pl.deep, pl.shallow, (e - 0.22f) * 6.0f);
          if (og.at(px, py) > 0.68f) c = {84, 120, 46};  // algae
        }
        if (th == Theme::Snow) {
          // frozen: cracks instead of waves
          const float cr = std::fabs(og.at(px, py) - 0.5f);
          if (cr < 0.015f) c = {236, 246, 255};
          const uint64_t tw = hash2(seed_, gx, gy, kSaltTwinkle + static_cast<uint64_t>(t / 6));
          if ((tw & 255) < 3) c = pl.glint;
          put(p, c);
          continue;
        }
        if (w > 1.5f) c = lerp(c, pl.glint, th == Theme::Swamp ? 0.4f : 0.8f);
        else if (w > 1.0f) c = lerp(c, pl.glint, 0.35f);
        put(p, c);
        continue;
      }
      if (e < kShore) {
        // ---- shore (foam line on the water side)
        if (e < kLiquid + 0.006f && th != Theme::Swamp && th != Theme::Lava && th != Theme::Snow) {
          const float w = fsin(sn, fx * 0.7f + fy * 0.3f + tf * 0.2f);
          put(p, w > 0.2f ? lerp(pl.shore, pl.glint, 0.6f) : pl.shore);
        } else if (th == Theme::Lava) {
          const float g = 0.5f + 0.5f * fsin(sn, tf * 0.15f + fx * 0.3f);
          put(p, lerp({70, 20, 12}, pl.shore, 0.5f + 0.5f * g * (kShore - e) / (kShore - kLiquid)));
        } else {
          put(p, pl.shore);
        }
        continue;
      }
      const float pth = std::fabs(combine_p(p64.at(px, py), p32.at(px, py)) - 0.5f);
      const uint64_t hs = hash2(seed_, gx, gy, kSaltSpeck);
      if (pth < kPathEdge) {
        // ---- path
        Rgb c = pth < kPathHalf ? pl.path : pl.path_edge;
        if (th == Theme::Swamp && pth < kPathHalf) {
          if (((gy & 3) == 0) || ((gx + (gy >> 2) * 3) % 7 == 0)) c = pl.path_edge;  // boardwalk planks
        } else if ((hs & 31) == 0) {
          c = pl.path_edge;  // pebbles
        }
        put(p, c);
        continue;
      }
      // ---- ground
      const float g = og.at(px, py), mo = om.at(px, py);
      const float tone = 0.65f * g + 0.35f * mo;
      Rgb c = tone < 0.4f ? pl.g_dark : tone < 0.62f ? pl.g_base : pl.g_light;
      switch (th) {
        case Theme::Meadow: {
          // grass blades: short vertical strokes
          const uint64_t hb = hash2(seed_, gx, gy >> 1, kSaltSpeck + 1);
          if ((hb & 15) == 0) c = pl.speck_a;
          else if ((hb & 63) == 1) c = pl.speck_b;
          break;
        }
        case Theme::Snow: {
          if ((hs & 63) == 0) c = pl.speck_a;
          const uint64_t tw = hash2(seed_, gx, gy, kSaltTwinkle + static_cast<uint64_t>(t / 8));
          if ((tw & 511) == 0) c = pl.speck_b;
          break;
        }
        case Theme::Desert: {
          // dunes: bands with a lit slope, a crest line and a shadowed lee side
          const float ph = fx * 0.06f + fy * 0.028f + e32.at(px, py) * 5.0f + g * 1.2f;
          const float f = ph - std::floor(ph);
          if (f < 0.6f) c = lerp(pl.g_base, pl.g_light, f / 0.6f);
          else if (f < 0.66f) c = pl.speck_b;
          else c = lerp(pl.g_dark, pl.g_base, (f - 0.66f) / 0.34f * 0.6f);
          if ((hs & 63) == 0) c = pl.speck_a;
          break;
        }
        case Theme::Lava: {
          const float cr = std::fabs(g - 0.5f);
          if (cr < 0.02f) {
            const float glow = 0.6f + 0.4f * fsin(sn, tf * 0.12f + fx * 0.15f + fy * 0.1f);
            c = lerp({60, 16, 8}, {240, 80, 20}, glow * (1.0f - cr / 0.02f));
          } else if ((hs & 31) == 0) {
            c = pl.speck_b;
          }
          break;
        }
        case Theme::Swamp: {
          if ((hs & 15) == 0) c = pl.speck_a;
          else if ((hs & 63) == 1) c = pl.speck_b;
          break;
        }
        case Theme::Autumn: {
          // leaf litter
          const uint64_t v = hs & 63;
          if (v == 0) c = pl.speck_a;
          else if (v == 1) c = pl.speck_b;
          else if (v == 2) c = {200, 60, 30};
          break;
        }
      }
      put(p, c);
    }
  }

  // ---- sprite passes
  Frame fr{rgb, W, H, H / 64.0f, texel_x_.data(), texel_y_.data(), cam_x_, cam_y_,
           static_cast<float>(itexel_x_.back() + 1), static_cast<float>(itexel_y_.back() + 1),
           seed_, t, th, &pl, &sn};
  draw_sprites(fr);
}

}  // namespace wl::oracle
