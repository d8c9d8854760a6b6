// Shared by the GPU tests (tests/gpu/): each test starts with
// WL_REQUIRE_CUDA(), which skips it with the reason when no device is usable.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"

#define WL_REQUIRE_CUDA()                                                       \
  do {                                                                          \
    if (!::wl::ops::backend_available(::wl::Backend::CUDA))                     \
      GTEST_SKIP() << ::wl::ops::backend_unavailable_reason(::wl::Backend::CUDA); \
  } while (0)

namespace wl::gpu_test {

// Random F32 tensor on the CPU, values uniform in [lo, hi).
inline Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = u(rng);
  return t;
}

// |a - b|_2 / |b|_2 over all elements (b is the reference; a tensor on any backend).
inline double normalised_error(const Tensor& a, const Tensor& ref) {
  const Tensor ha = ops::to_backend(a, Backend::CPU);
  const Tensor hr = ops::to_backend(ref, Backend::CPU);
  double num = 0, den = 0;
  const std::vector<float> av = ha.to_floats(), rv = hr.to_floats();
  for (size_t i = 0; i < av.size(); ++i) {
    const double d = static_cast<double>(av[i]) - rv[i];
    num += d * d;
    den += static_cast<double>(rv[i]) * rv[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace wl::gpu_test
