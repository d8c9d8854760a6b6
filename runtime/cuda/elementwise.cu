// Elementwise ops on the device (CPU twins in runtime/cpu/elementwise.cpp):
// residual adds (plain and gated by a per-frame modulation row), the
// modulation sum and the activations. Grid-stride loops over the elements.
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/kernel_common.cuh"
#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {

namespace {

using namespace kernels;

// x, y [T, D]; mod [F, R, D]; token t is gated by mod[t / tokens_per_frame, gate_row].
__global__ void gated_add_kernel(float* x, const float* y, const float* mod, int64_t R, int gate_row,
                                 int64_t tokens_per_frame, int64_t D, int64_t n) {
  WL_GRID_STRIDE_LOOP(e, n) {
    const int64_t t = e / D, i = e % D;
    x[e] += y[e] * mod[((t / tokens_per_frame) * R + gate_row) * D + i];
  }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  WL_GRID_STRIDE_LOOP(e, n) x[e] += y[e];
}

__global__ void mul_kernel(float* x, const float* y, int64_t n) {
  WL_GRID_STRIDE_LOOP(e, n) x[e] *= y[e];
}

// out [F, R, D] = base [R, D] + e, with e [F, R, D] (per_row) or [F, D].
__global__ void add_modulation_kernel(const float* base, const float* e, bool per_row, int64_t R, int64_t D,
                                      float* out, int64_t n) {
  WL_GRID_STRIDE_LOOP(o, n) {
    const int64_t j = o % D, r = (o / D) % R, f = o / (R * D);
    out[o] = base[r * D + j] + e[per_row ? o : f * D + j];
  }
}

// 0.5 x (1 + tanh(u)) written as x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3).
__global__ void gelu_tanh_kernel(float* x, int64_t n) {
  constexpr float k = 0.7978845608028654f;  // sqrt(2/pi)
  WL_GRID_STRIDE_LOOP(e, n) {
    const float v = x[e];
    const float u = k * (v + 0.044715f * v * v * v);
    x[e] = v / (1.0f + expf(-2.0f * u));
  }
}

__global__ void silu_kernel(float* x, int64_t n) {
  WL_GRID_STRIDE_LOOP(e, n) {
    const float v = x[e];
    x[e] = v / (1.0f + expf(-v));
  }
}

}  // namespace

void gated_add(Tensor& x, const Tensor& y, const Tensor& mod, int gate_row, int64_t tokens_per_frame) {
  const int64_t n = x.numel();
  if (n == 0) return;
  gated_add_kernel<<<elementwise_blocks(n), kThreads, 0, stream()>>>(x.f32(), y.f32(), mod.f32(), mod.dim(1), gate_row,
                                                                      tokens_per_frame, x.dim(1), n);
  WL_CUDA_CHECK_LAUNCH();
}

void add(Tensor& x, const Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  add_kernel<<<elementwise_blocks(n), kThreads, 0, stream()>>>(x.f32(), y.f32(), n);
  WL_CUDA_CHECK_LAUNCH();
}

void mul(Tensor& x, const Tensor& y) {
  const int64_t n = x.numel();
  if (n == 0) return;
  mul_kernel<<<elementwise_blocks(n), kThreads, 0, stream()>>>(x.f32(), y.f32(), n);
  WL_CUDA_CHECK_LAUNCH();
}

void add_modulation(const Tensor& base, const Tensor& e, Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  add_modulation_kernel<<<elementwise_blocks(n), kThreads, 0, stream()>>>(base.f32(), e.f32(), e.rank() == 3,
                                                                          out.dim(1), out.dim(2), out.f32(), n);
  WL_CUDA_CHECK_LAUNCH();
}

void gelu_tanh(Tensor& x) {
  const int64_t n = x.numel();
  if (n == 0) return;
  gelu_tanh_kernel<<<elementwise_blocks(n), kThreads, 0, stream()>>>(x.f32(), n);
  WL_CUDA_CHECK_LAUNCH();
}

void silu(Tensor& x) {
  const int64_t n = x.numel();
  if (n == 0) return;
  silu_kernel<<<elementwise_blocks(n), kThreads, 0, stream()>>>(x.f32(), n);
  WL_CUDA_CHECK_LAUNCH();
}

}  // namespace wl::cuda
