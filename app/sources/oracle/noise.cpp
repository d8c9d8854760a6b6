// Value noise and the sine table (see noise.h).
#include "app/sources/oracle/noise.h"

#include <cmath>

namespace wl::oracle {

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

const SinTable& sin_table() {
  static const SinTable t;
  return t;
}

}  // namespace wl::oracle
