// The oracle game's noise (internal to worldloop_oracle; the public
// interface is oracle.h): hashing of world coordinates, value noise, the
// octaves and fields the layout is made of (lakes, paths, ground tone) and
// their thresholds, and the sine table the animation samples.
//
// Everything here is a pure function of the seed and integer world texels.
// The small functions are inline here, so the ground pass (game.cpp) and the
// sprites (sprites.cpp) compile the very same floating-point operations.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace wl::oracle {

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
float value_noise(uint64_t seed, uint64_t salt, int shift, int64_t x, int64_t y);

// One octave's lattice cached for the frame (OracleGame::prepare_octave),
// sampled at pixel (px, py) with the smoothed weights of its column and row.
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

// Sine from a table (the shimmer needs many, none precise).
struct SinTable {
  float v[1024];
  SinTable() {
    for (int i = 0; i < 1024; ++i) v[i] = static_cast<float>(std::sin(i * 2.0 * 3.14159265358979 / 1024.0));
  }
};
const SinTable& sin_table();
inline float fsin(const SinTable& t, float x) {
  return t.v[static_cast<int>(x * (1024.0f / 6.2831853f) + 1048576.0f) & 1023];
}

}  // namespace wl::oracle
