// Row normalisations on the device (CPU twins in runtime/cpu/norms.cpp):
// layer_norm, layer_norm_modulate, rms_norm and the fused q/k preparation
// rms_norm_rope_3d. One block per row; mean and variance are accumulated in
// float64 in two passes like the CPU, the normalisation is applied in float
// with the same expressions, so results agree to float rounding.
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/kernel_common.cuh"
#include "runtime/cuda/ops_cuda.h"
#include "runtime/cuda/rope_math.cuh"

namespace wl::cuda {

namespace {

using namespace kernels;

struct RowStats {
  float mean, rstd;
};

// Mean and 1/sqrt(var + eps) (biased variance) of the row x [D], D > 0.
__device__ RowStats row_stats(const float* x, int64_t D, float eps, double* scratch) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += static_cast<double>(x[i]);
  const double mean = block_sum(s, scratch) / static_cast<double>(D);
  double q = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    const double dv = static_cast<double>(x[i]) - mean;
    q += dv * dv;
  }
  const double var = block_sum(q, scratch) / static_cast<double>(D);
  return {static_cast<float>(mean), static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)))};
}

// 1/sqrt(mean(x^2) + eps) of the row x [D], D > 0.
__device__ float rms_factor(const float* x, int64_t D, float eps, double* scratch) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const double ms = block_sum(s, scratch) / static_cast<double>(D);
  return static_cast<float>(1.0 / sqrt(ms + static_cast<double>(eps)));
}

// One RMS-normalised element (weight may be null), as runtime/cpu/norms.cpp.
__device__ inline float rms_value(float x, float rr, const float* weight, int64_t i) {
  return weight ? x * rr * weight[i] : x * rr;
}

// x, y [rows, D]; weight, bias [D] or null. Block r normalises row r.
__global__ void layer_norm_kernel(const float* x, const float* weight, const float* bias, float eps, int64_t D,
                                  float* y) {
  __shared__ double scratch[32];
  const float* xr = x + blockIdx.x * D;
  float* yr = y + blockIdx.x * D;
  const RowStats s = row_stats(xr, D, eps, scratch);
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    float v = (xr[i] - s.mean) * s.rstd;
    if (weight) v *= weight[i];
    if (bias) v += bias[i];
    yr[i] = v;
  }
}

// x, y [T, D]; mod [F, R, D]; token t uses frame t / tokens_per_frame.
__global__ void layer_norm_modulate_kernel(const float* x, const float* mod, int64_t R, int shift_row,
                                           int scale_row, int64_t tokens_per_frame, float eps, int64_t D,
                                           float* y) {
  __shared__ double scratch[32];
  const int64_t t = blockIdx.x;
  const int64_t f = t / tokens_per_frame;
  const float* shift = mod + (f * R + shift_row) * D;
  const float* scale = mod + (f * R + scale_row) * D;
  const float* xr = x + t * D;
  float* yr = y + t * D;
  const RowStats s = row_stats(xr, D, eps, scratch);
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
    yr[i] = (xr[i] - s.mean) * s.rstd * (1.0f + scale[i]) + shift[i];
}

// x, y [rows, D]; weight [D] or null.
__global__ void rms_norm_kernel(const float* x, const float* weight, float eps, int64_t D, float* y) {
  __shared__ double scratch[32];
  const float* xr = x + blockIdx.x * D;
  float* yr = y + blockIdx.x * D;
  const float rr = rms_factor(xr, D, eps, scratch);
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) yr[i] = rms_value(xr[i], rr, weight, i);
}

// x, normed, rotated [T, H, d] with d = 2c; weight [H*d] or null. Block t
// normalises token t's whole row, writes it to normed and its RoPE rotation
// (the token's c angles computed once into shared memory) to rotated.
__global__ void rms_norm_rope_3d_kernel(const float* x, const float* weight, float eps, int64_t H, int c,
                                        RopeGrid grid, float* normed, float* rotated) {
  extern __shared__ double table[];  // cos [c], then sin [c]
  __shared__ double scratch[32];
  const int64_t t = blockIdx.x;
  const int64_t D = H * 2 * c;
  const float* xr = x + t * D;
  float* nr = normed + t * D;
  float* rot = rotated + t * D;
  for (int i = threadIdx.x; i < c; i += blockDim.x) rope_cos_sin(grid, t, i, table[i], table[c + i]);
  const float rr = rms_factor(xr, D, eps, scratch);  // its barriers also publish the table
  for (int64_t p = threadIdx.x; p < H * c; p += blockDim.x) {
    const int i = static_cast<int>(p % c);
    float a = rms_value(xr[2 * p], rr, weight, 2 * p);
    float b = rms_value(xr[2 * p + 1], rr, weight, 2 * p + 1);
    nr[2 * p] = a;
    nr[2 * p + 1] = b;
    rope_rotate(a, b, table[i], table[c + i]);
    rot[2 * p] = a;
    rot[2 * p + 1] = b;
  }
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.f32() : nullptr; }

}  // namespace

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& y) {
  const int64_t D = x.dim(-1);
  const int64_t rows = D > 0 ? x.numel() / D : 0;
  if (rows == 0) return;
  layer_norm_kernel<<<row_blocks(rows, "layer_norm"), kThreads, 0, stream()>>>(
      x.f32(), data_or_null(weight), data_or_null(bias), eps, D, y.f32());
  WL_CUDA_CHECK_LAUNCH();
}

void layer_norm_modulate(const Tensor& x, const Tensor& mod, int shift_row, int scale_row,
                         int64_t tokens_per_frame, float eps, Tensor& y) {
  const int64_t T = x.dim(0), D = x.dim(1);
  if (T == 0 || D == 0) return;
  layer_norm_modulate_kernel<<<row_blocks(T, "layer_norm_modulate"), kThreads, 0, stream()>>>(
      x.f32(), mod.f32(), mod.dim(1), shift_row, scale_row, tokens_per_frame, eps, D, y.f32());
  WL_CUDA_CHECK_LAUNCH();
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  const int64_t D = x.dim(-1);
  const int64_t rows = D > 0 ? x.numel() / D : 0;
  if (rows == 0) return;
  rms_norm_kernel<<<row_blocks(rows, "rms_norm"), kThreads, 0, stream()>>>(x.f32(), data_or_null(weight), eps, D,
                                                                           y.f32());
  WL_CUDA_CHECK_LAUNCH();
}

// T = frames * rows * cols (checked by ops::rms_norm_rope_3d); the frame count itself is not needed.
void rms_norm_rope_3d(const Tensor& x, const Tensor& weight, float eps, int64_t frame0, int64_t /*frames*/,
                      int64_t rows, int64_t cols, Tensor& normed, Tensor& rotated) {
  const int64_t T = x.dim(0), H = x.dim(1), d = x.dim(2);
  if (T == 0 || H == 0 || d == 0) return;
  const size_t shared = rope_table_bytes(d, "rms_norm_rope_3d");
  rms_norm_rope_3d_kernel<<<row_blocks(T, "rms_norm_rope_3d"), kThreads, shared, stream()>>>(
      x.f32(), data_or_null(weight), eps, H, static_cast<int>(d / 2), make_rope_grid(frame0, rows, cols, d),
      normed.f32(), rotated.f32());
  WL_CUDA_CHECK_LAUNCH();
}

}  // namespace wl::cuda
