// Row normalisations: LayerNorm (optionally affine or modulated) and RMSNorm.
// Mean and variance are accumulated in float64 (two passes over the row, 16
// independent partial sums so the loops vectorise), the normalisation itself
// is applied in float.
#include <cmath>

#include "runtime/cpu/ops_cpu.h"

namespace wl::cpu {

namespace {

constexpr int kLanes = 16;

double row_sum(const float* x, int64_t D) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= D; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(x[i + k]);
  double s = 0.0;
  for (; i < D; ++i) s += static_cast<double>(x[i]);
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

// sum (x - mean)^2
double row_centered_sq(const float* x, int64_t D, double mean) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= D; i += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      const double d = static_cast<double>(x[i + k]) - mean;
      acc[k] += d * d;
    }
  double s = 0.0;
  for (; i < D; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    s += d * d;
  }
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

double row_sq(const float* x, int64_t D) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= D; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(x[i + k]) * static_cast<double>(x[i + k]);
  double s = 0.0;
  for (; i < D; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

// mean and 1/sqrt(var + eps) of one row (biased variance).
inline void row_stats(const float* x, int64_t D, float eps, float& mean_f, float& rstd_f) {
  const double mean = D > 0 ? row_sum(x, D) / static_cast<double>(D) : 0.0;
  const double var = D > 0 ? row_centered_sq(x, D, mean) / static_cast<double>(D) : 0.0;
  mean_f = static_cast<float>(mean);
  rstd_f = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
}

}  // namespace

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& y) {
  const int64_t D = x.dim(-1);
  const int64_t rows = D > 0 ? x.numel() / D : 0;
  const float* xp = x.f32();
  float* yp = y.f32();
  const float* w = weight.defined() ? weight.f32() : nullptr;
  const float* b = bias.defined() ? bias.f32() : nullptr;
#pragma omp parallel for schedule(static) if (rows * D >= detail::kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * D;
    float* yr = yp + r * D;
    float mean, rstd;
    row_stats(xr, D, eps, mean, rstd);
    if (w && b) {
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mean) * rstd * w[i] + b[i];
    } else if (w) {
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mean) * rstd * w[i];
    } else if (b) {
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mean) * rstd + b[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mean) * rstd;
    }
  }
}

void layer_norm_modulate(const Tensor& x, const Tensor& mod, int shift_row, int scale_row,
                         int64_t tokens_per_frame, float eps, Tensor& y) {
  const int64_t T = x.dim(0), D = x.dim(1), R = mod.dim(1);
  const float* xp = x.f32();
  float* yp = y.f32();
  const float* mp = mod.f32();
#pragma omp parallel for schedule(static) if (T * D >= detail::kParallelMin)
  for (int64_t t = 0; t < T; ++t) {
    const int64_t f = t / tokens_per_frame;
    const float* shift = mp + (f * R + shift_row) * D;
    const float* scale = mp + (f * R + scale_row) * D;
    const float* xr = xp + t * D;
    float* yr = yp + t * D;
    float mean, rstd;
    row_stats(xr, D, eps, mean, rstd);
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mean) * rstd * (1.0f + scale[i]) + shift[i];
  }
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  const int64_t D = x.dim(-1);
  const int64_t rows = D > 0 ? x.numel() / D : 0;
  const float* xp = x.f32();
  float* yp = y.f32();
  const float* w = weight.defined() ? weight.f32() : nullptr;
#pragma omp parallel for schedule(static) if (rows * D >= detail::kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * D;
    float* yr = yp + r * D;
    const double ms = row_sq(xr, D) / static_cast<double>(D);
    const float rr = static_cast<float>(1.0 / std::sqrt(ms + static_cast<double>(eps)));
    if (w) {
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] * rr * w[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] * rr;
    }
  }
}

}  // namespace wl::cpu
