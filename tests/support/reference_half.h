// The tests' own 16-bit float decoding, independent of the engine's
// (runtime/core/tensor.cpp works on bit fields and memcpy; this works on
// values with ldexp), so that weights stored as f16/bf16 are checked against
// something that does not share the engine's conversion.
//
//   f16:  1 sign, 5 exponent (bias 15), 10 mantissa bits
//   bf16: 1 sign, 8 exponent (bias 127), 7 mantissa bits
// An all-zero exponent is a subnormal (no implicit 1, exponent 1 - bias); an
// all-ones exponent is infinity (mantissa 0) or NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace wl::testref {

inline double ref_half_bits_to_double(uint32_t bits, int exp_bits, int man_bits) {
  const uint32_t man = bits & ((1u << man_bits) - 1);
  const uint32_t exp = (bits >> man_bits) & ((1u << exp_bits) - 1);
  const bool negative = (bits >> (man_bits + exp_bits)) & 1u;
  const int bias = (1 << (exp_bits - 1)) - 1;
  double v;
  if (exp == (1u << exp_bits) - 1)
    v = man == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  else if (exp == 0)
    v = std::ldexp(static_cast<double>(man), 1 - bias - man_bits);
  else
    v = std::ldexp(static_cast<double>(man + (1u << man_bits)), static_cast<int>(exp) - bias - man_bits);
  return negative ? -v : v;
}

inline double ref_f16_to_double(uint16_t h) { return ref_half_bits_to_double(h, 5, 10); }
inline double ref_bf16_to_double(uint16_t b) { return ref_half_bits_to_double(b, 8, 7); }

}  // namespace wl::testref
