// Elementwise ops: residual adds (plain and gated by a per-frame modulation
// row) and the activations. The activations use the branch-free fast_exp so
// the loops vectorise; gelu_tanh uses the identity
// 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)), which is exact in real arithmetic
// and accurate in float for every x (no cancellation for negative x).
#include <cmath>

#include "runtime/cpu/ops_cpu.h"

namespace wl::cpu {

using detail::fast_exp;

namespace {
constexpr int64_t kChunk = 1 << 14;  // elements per parallel work item
}

void gated_add(Tensor& x, const Tensor& y, const Tensor& mod, int gate_row, int64_t tokens_per_frame) {
  const int64_t T = x.dim(0), D = x.dim(1), R = mod.dim(1);
  float* xp = x.f32();
  const float* yp = y.f32();
  const float* mp = mod.f32();
#pragma omp parallel for schedule(static) if (T * D >= detail::kParallelMin)
  for (int64_t t = 0; t < T; ++t) {
    const float* g = mp + ((t / tokens_per_frame) * R + gate_row) * D;
    float* xr = xp + t * D;
    const float* yr = yp + t * D;
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) xr[i] += yr[i] * g[i];
  }
}

void add(Tensor& x, const Tensor& y) {
  const int64_t n = x.numel();
  float* xp = x.f32();
  const float* yp = y.f32();
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMin)
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t e = c + kChunk < n ? c + kChunk : n;
#pragma omp simd
    for (int64_t i = c; i < e; ++i) xp[i] += yp[i];
  }
}

void mul(Tensor& x, const Tensor& y) {
  const int64_t n = x.numel();
  float* xp = x.f32();
  const float* yp = y.f32();
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMin)
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t e = c + kChunk < n ? c + kChunk : n;
#pragma omp simd
    for (int64_t i = c; i < e; ++i) xp[i] *= yp[i];
  }
}

void gelu_tanh(Tensor& x) {
  const int64_t n = x.numel();
  float* xp = x.f32();
  constexpr float k = 0.7978845608028654f;  // sqrt(2/pi)
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMin)
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t e = c + kChunk < n ? c + kChunk : n;
    int64_t i = c;
#if defined(__AVX512F__)
    const __m512 kk = _mm512_set1_ps(-2.0f * k), c3 = _mm512_set1_ps(0.044715f), one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= e; i += 16) {
      const __m512 v = _mm512_loadu_ps(xp + i);
      const __m512 u = _mm512_mul_ps(kk, _mm512_fmadd_ps(_mm512_mul_ps(c3, v), _mm512_mul_ps(v, v), v));
      _mm512_storeu_ps(xp + i, _mm512_div_ps(v, _mm512_add_ps(one, detail::exp512(u))));
    }
#endif
    for (; i < e; ++i) {
      const float v = xp[i];
      const float u = k * (v + 0.044715f * v * v * v);
      xp[i] = v / (1.0f + fast_exp(-2.0f * u));
    }
  }
}

void silu(Tensor& x) {
  const int64_t n = x.numel();
  float* xp = x.f32();
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMin)
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t e = c + kChunk < n ? c + kChunk : n;
    int64_t i = c;
#if defined(__AVX512F__)
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (; i + 16 <= e; i += 16) {
      const __m512 v = _mm512_loadu_ps(xp + i);
      _mm512_storeu_ps(xp + i, _mm512_div_ps(v, _mm512_add_ps(one, detail::exp512(_mm512_sub_ps(zero, v)))));
    }
#endif
    for (; i < e; ++i) {
      const float v = xp[i];
      xp[i] = v / (1.0f + fast_exp(-v));
    }
  }
}

void add_modulation(const Tensor& base, const Tensor& e, Tensor& out) {
  const int64_t F = out.dim(0), R = out.dim(1), D = out.dim(2);
  const bool per_row = e.rank() == 3;
  const float* bp = base.f32();
  const float* ep = e.f32();
  float* op = out.f32();
  for (int64_t f = 0; f < F; ++f)
    for (int64_t r = 0; r < R; ++r) {
      const float* er = ep + (per_row ? (f * R + r) * D : f * D);
      float* o = op + (f * R + r) * D;
      for (int64_t j = 0; j < D; ++j) o[j] = bp[r * D + j] + er[j];
    }
}

}  // namespace wl::cpu
