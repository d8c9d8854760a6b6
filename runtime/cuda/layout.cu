// Layout copies on the device (CPU twins in runtime/cpu/layout.cpp and
// runtime/cpu/conv_onednn.cpp): patchify, unpatchify and nearest 2x
// upsampling. One thread per output element, so writes are coalesced.
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/kernel_common.cuh"
#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {

namespace {

using namespace kernels;

// x [F, C, H, W] -> patches [F*h*w, C*ph*pw], patch vector ordered (c, kh, kw).
__global__ void patchify_kernel(const float* x, int64_t C, int64_t H, int64_t W, int ph, int pw, float* patches,
                                int64_t n) {
  const int64_t h = H / ph, w = W / pw, P = C * ph * pw;
  WL_GRID_STRIDE_LOOP(o, n) {
    const int64_t token = o / P, q = o % P;
    const int64_t ci = q / (ph * pw), kh = (q / pw) % ph, kw = q % pw;
    const int64_t f = token / (h * w), hi = (token / w) % h, wi = token % w;
    patches[o] = x[((f * C + ci) * H + hi * ph + kh) * W + wi * pw + kw];
  }
}

// tokens [F*h*w, ph*pw*C] (vector ordered (kh, kw, c), c fastest) -> out [F, C, h*ph, w*pw].
__global__ void unpatchify_kernel(const float* tokens, int64_t C, int64_t h, int64_t w, int ph, int pw, float* out,
                                  int64_t n) {
  const int64_t H = h * ph, W = w * pw, P = ph * pw * C;
  WL_GRID_STRIDE_LOOP(o, n) {
    const int64_t x = o % W, y = (o / W) % H, ci = (o / (W * H)) % C, f = o / (W * H * C);
    const int64_t hi = y / ph, kh = y % ph, wi = x / pw, kw = x % pw;
    out[o] = tokens[((f * h + hi) * w + wi) * P + (kh * pw + kw) * C + ci];
  }
}

// x [planes, H, W] -> y [planes, 2H, 2W], y[p, i, j] = x[p, i/2, j/2].
__global__ void upsample_nearest_2x_kernel(const float* x, int64_t H, int64_t W, float* y, int64_t n) {
  WL_GRID_STRIDE_LOOP(o, n) {
    const int64_t j = o % (2 * W), i = (o / (2 * W)) % (2 * H), p = o / (4 * H * W);
    y[o] = x[(p * H + i / 2) * W + j / 2];
  }
}

}  // namespace

void patchify(const Tensor& x, int ph, int pw, Tensor& patches) {
  const int64_t n = patches.numel();
  if (n == 0) return;
  patchify_kernel<<<elementwise_blocks(n), kThreads, 0, stream()>>>(x.f32(), x.dim(1), x.dim(2), x.dim(3), ph, pw,
                                                                     patches.f32(), n);
  WL_CUDA_CHECK_LAUNCH();
}

void unpatchify(const Tensor& tokens, int64_t /*frames*/, int64_t h, int64_t w, int ph, int pw, int64_t channels,
                Tensor& out) {
  const int64_t n = out.numel();  // frames * channels * h*ph * w*pw
  if (n == 0) return;
  unpatchify_kernel<<<elementwise_blocks(n), kThreads, 0, stream()>>>(tokens.f32(), channels, h, w, ph, pw,
                                                                       out.f32(), n);
  WL_CUDA_CHECK_LAUNCH();
}

void upsample_nearest_2x(const Tensor& x, Tensor& y) {
  const int64_t n = y.numel();
  if (n == 0) return;
  upsample_nearest_2x_kernel<<<elementwise_blocks(n), kThreads, 0, stream()>>>(x.f32(), x.dim(2), x.dim(3), y.f32(),
                                                                                n);
  WL_CUDA_CHECK_LAUNCH();
}

}  // namespace wl::cuda
