// CPU backend of the op set (runtime/ops.h): the same functions in namespace
// wl::cpu. runtime/ops.cpp checks the arguments and dispatches here, so these
// functions may assume shapes agree, tensors are F32 (activations), CPU and
// contiguous.
//
//   norms.cpp        layer_norm, layer_norm_modulate, rms_norm
//   elementwise.cpp  gated_add, add, gelu_tanh, silu
//   rope.cpp         rope_3d
//   attention.cpp    attention (flash-style, streaming over key blocks)
//   layout.cpp       patchify, unpatchify
//   linear_onednn.cpp  best_matmul_precision, prepare_linear, linear
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/ops.h"
#include "runtime/tensor.h"

namespace wl::cpu {

using ops::KVSegment;
using ops::LinearWeight;
using ops::MatmulPrecision;

// ---- matrix products (runtime/cpu/linear_onednn.cpp) -------------------------
MatmulPrecision best_matmul_precision();
LinearWeight prepare_linear(const Tensor& weight, const Tensor& bias, MatmulPrecision precision);
void linear(const Tensor& x, const LinearWeight& w, Tensor& y);

// ---- normalisation and modulation (norms.cpp, elementwise.cpp) ---------------
void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& y);
void layer_norm_modulate(const Tensor& x, const Tensor& mod, int shift_row, int scale_row,
                         int64_t tokens_per_frame, float eps, Tensor& y);
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y);
void gated_add(Tensor& x, const Tensor& y, const Tensor& mod, int gate_row, int64_t tokens_per_frame);
void add(Tensor& x, const Tensor& y);
void add_modulation(const Tensor& base, const Tensor& e, Tensor& out);

// ---- activations (elementwise.cpp) --------------------------------------------
void gelu_tanh(Tensor& x);
void silu(Tensor& x);

// ---- positions (rope.cpp) -------------------------------------------------------
void rope_3d(Tensor& x, int64_t frame0, int64_t frames, int64_t rows, int64_t cols);

// ---- attention (attention.cpp) --------------------------------------------------
void attention(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out);

// ---- convolutions (conv_onednn.cpp, layout.cpp) -------------------------------
ops::ConvWeight prepare_conv2d(const Tensor& weight, const Tensor& bias, int stride, int padding);
void conv2d(const Tensor& x, const ops::ConvWeight& w, Tensor& y);
void upsample_nearest_2x(const Tensor& x, Tensor& y);

// ---- layout (layout.cpp) ----------------------------------------------------------
void patchify(const Tensor& x, int ph, int pw, Tensor& patches);
void unpatchify(const Tensor& tokens, int64_t frames, int64_t h, int64_t w, int ph, int pw,
                int64_t channels, Tensor& out);

}  // namespace wl::cpu

// ---- helpers shared by the CPU kernels ----------------------------------------
#include <bit>
#include <cstring>
#if defined(__AVX512F__)
// GCC 12 reports the _mm512_undefined_ps() inside the intrinsics as maybe
// uninitialised; a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace wl::cpu::detail {

// exp(x) in float, branch-free so loops over it vectorise: Cody-Waite range
// reduction and a degree-6 polynomial (Cephes expf), about 1-2 ulp. Inputs are
// clamped to [-87.3, 88.3]: exp(-inf) gives ~1e-38 instead of 0, large inputs
// give ~FLT_MAX instead of inf.
inline float fast_exp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  const float t = x * 1.44269504088896341f + 12582912.0f;  // round(x / ln2) in the low mantissa bits
  const float n = t - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t ni = std::bit_cast<int32_t>(t) - 0x4B400000;  // n as an integer
  const float scale = std::bit_cast<float>((ni + 127) << 23);
  return p * scale;
}

#if defined(__AVX512F__)
// fast_exp on 16 lanes (same reduction and polynomial, 2^n applied by scalef).
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  x = _mm512_min_ps(x, _mm512_set1_ps(88.3f));
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}
#endif

// Below this many elements an op runs on the calling thread: waking a team
// costs more than the work (and much more when another process holds a core).
constexpr int64_t kParallelMin = 1 << 15;

}  // namespace wl::cpu::detail
