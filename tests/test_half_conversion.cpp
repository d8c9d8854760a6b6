// The engine's f16/bf16 <-> f32 conversions against the tests' own
// (tests/support/reference_half.h), on every one of the 65,536 bit patterns
// of each format: normals, subnormals, +-0, +-inf and NaNs. Encoding is
// checked to round to nearest, ties to even, on every value, every midpoint
// between neighbours and the floats just either side of each midpoint.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "runtime/core/tensor.h"
#include "tests/support/reference_half.h"

namespace wl {
namespace {

using testref::ref_bf16_to_double;
using testref::ref_f16_to_double;

struct Format {
  const char* name;
  double (*ref_decode)(uint16_t);
  float (*decode)(uint16_t);
  uint16_t (*encode)(float);
};
const Format kFormats[] = {{"f16", ref_f16_to_double, f16_to_f32, f32_to_f16},
                           {"bf16", ref_bf16_to_double, bf16_to_f32, f32_to_bf16}};

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(HalfConversion, EveryBitPatternDecodesAsTheReferenceSays) {
  for (const Format& fmt : kFormats) {
    SCOPED_TRACE(fmt.name);
    int nans = 0, subnormals = 0, infs = 0;
    for (uint32_t b = 0; b <= 0xffffu; ++b) {
      const uint16_t h = static_cast<uint16_t>(b);
      const double want = fmt.ref_decode(h);
      const float got = fmt.decode(h);
      if (std::isnan(want)) {
        ++nans;
        EXPECT_TRUE(std::isnan(got)) << std::hex << b;
        continue;
      }
      infs += std::isinf(want);
      subnormals += want != 0.0 && std::fabs(want) < (fmt.decode == f16_to_f32 ? std::ldexp(1.0, -14) : std::ldexp(1.0, -126));
      EXPECT_EQ(static_cast<double>(got), want) << std::hex << b;
      EXPECT_EQ(std::signbit(got), (b & 0x8000u) != 0) << std::hex << b;  // -0 stays -0
    }
    // The classes the loop went through (so that a narrowed loop fails).
    EXPECT_EQ(infs, 2);
    EXPECT_EQ(nans, fmt.decode == f16_to_f32 ? 2 * 1023 : 2 * 127);
    EXPECT_EQ(subnormals, fmt.decode == f16_to_f32 ? 2 * 1023 : 2 * 127);
  }
}

// The nearest value of the format to x, ties to the even mantissa, past the
// largest finite value (by half an ulp or more) infinity; worked out from the
// reference's decoded values alone.
uint16_t reference_encode(const Format& fmt, double x, const std::vector<uint16_t>& positive_finite) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(x);
  size_t lo = 0, hi = positive_finite.size() - 1;  // positive_finite is ascending
  if (a >= fmt.ref_decode(positive_finite[hi])) {
    const double top = fmt.ref_decode(positive_finite[hi]);
    const double ulp = top - fmt.ref_decode(positive_finite[hi - 1]);
    const uint16_t inf = static_cast<uint16_t>(positive_finite[hi] + 1);
    return static_cast<uint16_t>(sign | (a - top >= ulp / 2 ? inf : positive_finite[hi]));
  }
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    (fmt.ref_decode(positive_finite[mid]) <= a ? lo : hi) = mid;
  }
  const double below = fmt.ref_decode(positive_finite[lo]), above = fmt.ref_decode(positive_finite[hi]);
  uint16_t pick;
  if (a - below < above - a) pick = positive_finite[lo];
  else if (a - below > above - a) pick = positive_finite[hi];
  else pick = (positive_finite[lo] & 1u) == 0 ? positive_finite[lo] : positive_finite[hi];
  return static_cast<uint16_t>(sign | pick);
}

TEST(HalfConversion, EncodingRoundsToNearestEven) {
  for (const Format& fmt : kFormats) {
    SCOPED_TRACE(fmt.name);
    std::vector<uint16_t> positive_finite;
    for (uint32_t b = 0; b < 0x8000u; ++b)
      if (std::isfinite(fmt.ref_decode(static_cast<uint16_t>(b)))) positive_finite.push_back(static_cast<uint16_t>(b));
    std::vector<float> probes;
    for (size_t i = 0; i < positive_finite.size(); ++i) {
      const double v = fmt.ref_decode(positive_finite[i]);
      probes.push_back(static_cast<float>(v));
      const double next = i + 1 < positive_finite.size()
                              ? fmt.ref_decode(positive_finite[i + 1])
                              : v + (v - fmt.ref_decode(positive_finite[i - 1]));  // where infinity starts rounding
      const float mid = static_cast<float>((v + next) / 2);  // exact in f32 for both formats
      ASSERT_EQ(static_cast<double>(mid), (v + next) / 2);
      probes.push_back(mid);
      probes.push_back(std::nextafter(mid, 0.0f));
      probes.push_back(std::nextafter(mid, std::numeric_limits<float>::infinity()));
    }
    probes.push_back(std::numeric_limits<float>::max());
    probes.push_back(std::numeric_limits<float>::denorm_min());
    int checked = 0;
    for (float p : probes)
      for (float x : {p, -p}) {
        const uint16_t want = reference_encode(fmt, x, positive_finite);
        ASSERT_EQ(fmt.encode(x), want) << "x = " << x << " (0x" << std::hex << bits_of(x) << ")";
        ++checked;
      }
    EXPECT_EQ(checked, static_cast<int>(2 * (4 * positive_finite.size() + 2)));
    // Infinities stay infinities and NaN stays NaN (a quiet NaN, not infinity).
    EXPECT_TRUE(std::isinf(fmt.decode(fmt.encode(std::numeric_limits<float>::infinity()))));
    EXPECT_TRUE(std::isinf(fmt.decode(fmt.encode(-std::numeric_limits<float>::infinity()))));
    EXPECT_TRUE(std::isnan(fmt.decode(fmt.encode(std::numeric_limits<float>::quiet_NaN()))));
    float payload_nan;  // a NaN whose payload lives only in the low 13/16 bits
    const uint32_t nan_bits = 0x7f800001u;
    std::memcpy(&payload_nan, &nan_bits, 4);
    EXPECT_TRUE(std::isnan(fmt.decode(fmt.encode(payload_nan))));
  }
}

}  // namespace
}  // namespace wl
