// The oracle game's world and renderer (see oracle.h).
//
// One frame = a per-pixel ground pass (value-noise fields sampled from
// lattices cached for the frame: lakes, paths, ground tone) followed by sprite
// passes in world space: feature shadows, features (one slot per 8x8 tile),
// creatures, birds and weather particles. Everything is a function of the
// seed, integer world texels and the frame counter; sprite positions are
// dyadic fractions of a texel, so moving the camera by whole texels shifts the
// picture by exactly that many texels.
#include "app/sources/oracle/oracle.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace wl::oracle {

namespace {

// ---------------------------------------------------------------- hashing

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

inline uint64_t hash2(uint64_t seed, int64_t x, int64_t y, uint64_t salt) {
  uint64_t a = mix64(seed ^ (salt * 0x9E3779B97F4A7C15ull) ^ (static_cast<uint64_t>(x) * 0xD1B54A32D192ED03ull));
  return mix64(a + static_cast<uint64_t>(y) * 0x8CB92BA72F3D8DD7ull);
}

inline float unitf(uint64_t h) { return static_cast<float>(h >> 40) * (1.0f / 16777216.0f); }

// Salts of the fields.
enum : uint64_t {
  kSaltE64 = 11, kSaltE32, kSaltE16, kSaltE8, kSaltM, kSaltP64, kSaltP32, kSaltG,
  kSaltTile = 101, kSaltTileJit, kSaltTileVar, kSaltSpeck, kSaltCreature, kSaltBird, kSaltParticle,
  kSaltFlicker, kSaltTwinkle,
};

// Octave slots and their lattice spacing (log2 texels).
enum { kOctE64 = 0, kOctE32, kOctE16, kOctE8, kOctM, kOctP64, kOctP32, kOctG };
constexpr int kOctShift[8] = {6, 5, 4, 3, 5, 6, 5, 4};
constexpr uint64_t kOctSalt[8] = {kSaltE64, kSaltE32, kSaltE16, kSaltE8, kSaltM, kSaltP64, kSaltP32, kSaltG};

inline float smooth(float t) { return t * t * (3.0f - 2.0f * t); }

// Value noise at integer texel (x, y) (sampled at the texel centre), as the
// per-pixel pass computes it for a 64x64 view.
float value_noise(uint64_t seed, uint64_t salt, int shift, int64_t x, int64_t y) {
  const int64_t ix = x >> shift, iy = y >> shift;
  const float s = static_cast<float>(1 << shift);
  const float tx = smooth((static_cast<float>(x & ((1 << shift) - 1)) + 0.5f) / s);
  const float ty = smooth((static_cast<float>(y & ((1 << shift) - 1)) + 0.5f) / s);
  const float v00 = unitf(hash2(seed, ix, iy, salt)), v10 = unitf(hash2(seed, ix + 1, iy, salt));
  const float v01 = unitf(hash2(seed, ix, iy + 1, salt)), v11 = unitf(hash2(seed, ix + 1, iy + 1, salt));
  const float a = v00 + (v10 - v00) * tx, b = v01 + (v11 - v01) * tx;
  return a + (b - a) * ty;
}

// Field combinations (shared by the pixel pass and the tile pass).
inline float combine_e(float e64, float e32, float e16, float e8) {
  return 0.42f * e64 + 0.30f * e32 + 0.17f * e16 + 0.11f * e8;
}
inline float combine_p(float p64, float p32) { return 0.72f * p64 + 0.28f * p32; }

// Layout thresholds (theme-independent).
constexpr float kDeep = 0.285f;     // E below: deep liquid
constexpr float kLiquid = 0.345f;   // E below: liquid
constexpr float kShore = 0.37f;     // E below: shore
constexpr float kPathHalf = 0.016f; // |P - 0.5| below: path
constexpr float kPathEdge = 0.023f;

// ---------------------------------------------------------------- colour

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

// Sine from a table (the shimmer needs many, none precise).
struct SinTable {
  float v[1024];
  SinTable() {
    for (int i = 0; i < 1024; ++i) v[i] = static_cast<float>(std::sin(i * 2.0 * 3.14159265358979 / 1024.0));
  }
};
const SinTable& sin_table() {
  static const SinTable t;
  return t;
}
inline float fsin(const SinTable& t, float x) {
  return t.v[static_cast<int>(x * (1024.0f / 6.2831853f) + 1048576.0f) & 1023];
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

const Palette& palette(Theme t) {
  static const Palette p[kThemeCount] = {
      // Meadow: green grass, flowers, round trees, blue ponds, sheep, gulls, butterflies.
      {{72, 140, 52}, {92, 164, 62}, {118, 184, 74}, {62, 122, 44}, {150, 204, 96},
       {196, 164, 110}, {160, 128, 84},
       {214, 200, 140}, {70, 150, 214}, {36, 92, 176}, {226, 244, 255},
       {18, 58, 26}, {30, 96, 38}, {48, 132, 50}, {102, 176, 72}, {104, 70, 40},
       {236, 60, 60}, {252, 220, 50}, {248, 248, 248}, {250, 200, 40},
       {112, 112, 108}, {178, 176, 168},
       {70, 150, 60}, {140, 100, 50},
       {244, 244, 236}, {36, 36, 36}, {40, 40, 40},
       {250, 250, 250},
       {255, 236, 100}, {255, 255, 255}, 10},
      // Snow: white snow, snow-capped pines, frozen lakes, foxes, crows, falling snow.
      {{204, 214, 232}, {226, 232, 244}, {242, 246, 252}, {186, 198, 224}, {255, 255, 255},
       {176, 180, 196}, {156, 160, 180},
       {214, 230, 244}, {150, 200, 232}, {82, 140, 196}, {250, 254, 255},
       {10, 44, 34}, {20, 66, 48}, {32, 92, 62}, {56, 120, 80}, {78, 56, 40},
       {118, 136, 150}, {90, 110, 96}, {236, 242, 250}, {200, 60, 60},
       {100, 106, 124}, {160, 166, 182},
       {120, 120, 110}, {236, 240, 248},
       {214, 104, 40}, {226, 120, 50}, {60, 40, 30},
       {36, 36, 46},
       {255, 255, 255}, {232, 240, 255}, 12},
      // Desert: sand dunes, cacti, oases, camels, vultures, blowing sand.
      {{200, 156, 92}, {226, 186, 118}, {244, 212, 146}, {210, 168, 104}, {250, 226, 170},
       {178, 136, 86}, {158, 116, 72},
       {116, 168, 70}, {56, 178, 178}, {26, 116, 146}, {220, 250, 250},
       {24, 72, 36}, {40, 110, 52}, {64, 146, 70}, {118, 190, 104}, {120, 86, 50},
       {150, 116, 64}, {128, 96, 52}, {236, 226, 210}, {200, 80, 60},
       {150, 96, 60}, {206, 150, 100},
       {150, 130, 70}, {110, 80, 40},
       {176, 124, 70}, {150, 104, 60}, {100, 70, 40},
       {64, 44, 34},
       {252, 232, 184}, {240, 216, 160}, 11},
      // Lava night: black rock, glowing lava, obsidian spires, fires, salamanders, bats, embers.
      {{22, 18, 30}, {34, 28, 42}, {48, 40, 56}, {16, 12, 22}, {70, 58, 72},
       {62, 56, 70}, {44, 38, 52},
       {150, 40, 16}, {255, 150, 30}, {236, 64, 14}, {255, 236, 140},
       {8, 6, 12}, {20, 14, 26}, {40, 30, 48}, {90, 64, 96}, {30, 20, 20},
       {255, 90, 10}, {255, 180, 40}, {255, 244, 170}, {255, 120, 20},
       {28, 24, 34}, {70, 60, 78},
       {60, 40, 40}, {230, 90, 20},
       {255, 110, 20}, {255, 200, 60}, {120, 30, 10},
       {130, 80, 150},
       {255, 150, 40}, {255, 220, 110}, 10},
      // Swamp: olive mud and moss, murky water, willows, reeds, frogs, herons, fireflies.
      {{74, 86, 38}, {94, 108, 46}, {114, 126, 56}, {62, 72, 32}, {136, 148, 70},
       {130, 96, 58}, {84, 60, 36},
       {66, 58, 36}, {46, 74, 66}, {28, 48, 46}, {150, 184, 150},
       {34, 44, 14}, {70, 88, 26}, {104, 124, 36}, {150, 168, 64}, {58, 44, 28},
       {150, 160, 80}, {96, 62, 30}, {180, 190, 110}, {90, 60, 30},
       {66, 70, 60}, {110, 112, 96},
       {128, 142, 62}, {92, 56, 26},
       {84, 168, 56}, {70, 140, 44}, {40, 80, 30},
       {210, 214, 204},
       {226, 255, 120}, {190, 240, 90}, 10},
      // Autumn: leaf litter, orange/red/yellow trees, dark ponds, deer, crows, falling leaves.
      {{150, 88, 40}, {178, 108, 48}, {198, 132, 60}, {140, 64, 30}, {226, 176, 70},
       {116, 84, 56}, {92, 64, 42},
       {132, 104, 66}, {60, 96, 130}, {32, 56, 96}, {210, 226, 240},
       {96, 36, 14}, {170, 62, 22}, {226, 118, 30}, {250, 184, 60}, {80, 50, 30},
       {200, 40, 30}, {250, 250, 240}, {140, 90, 50}, {220, 160, 60},
       {104, 96, 90}, {160, 150, 140},
       {160, 120, 60}, {90, 50, 20},
       {140, 88, 48}, {120, 72, 38}, {60, 40, 24},
       {26, 26, 32},
       {240, 120, 30}, {210, 50, 30}, 11},
  };
  return p[static_cast<int>(t)];
}

enum class Feature : uint8_t { None, Tree, Small, Rock, ShorePlant, Floater };

struct TileFeature {
  Feature kind = Feature::None;
  float jx = 0, jy = 0;  // offset from the tile centre, multiples of 1/8 texel
  uint64_t var = 0;      // variant bits
};

}  // namespace

// ---------------------------------------------------------------- game

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

namespace {

struct OctView {
  const float* lat;
  int nx;
  const int32_t* ci;
  const float* cw;
  const int32_t* ri;
  const float* rw;
  float at(int px, int py) const {
    const float* r0 = lat + static_cast<size_t>(ri[py]) * nx + ci[px];
    const float* r1 = r0 + nx;
    const float a = r0[0] + (r0[1] - r0[0]) * cw[px];
    const float b = r1[0] + (r1[1] - r1[0]) * cw[px];
    return a + (b - a) * rw[py];
  }
};

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
  const int64_t tx0 = (cam_x_ - 8) >> 3, tx1 = (cam_x_ + itexel_x_.back() + 9) >> 3;
  const int64_t ty0 = (cam_y_ - 8) >> 3, ty1 = (cam_y_ + itexel_y_.back() + 14) >> 3;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t ty = ty0; ty <= ty1; ++ty) {
      for (int64_t tx = tx0; tx <= tx1; ++tx) {
        const TileFeature f = tile_feature(seed_, tx, ty);
        if (f.kind == Feature::None) continue;
        const float sx = static_cast<float>(tx * 8 + 4 - cam_x_) + f.jx;
        const float sy = static_cast<float>(ty * 8 + 4 - cam_y_) + f.jy;
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
