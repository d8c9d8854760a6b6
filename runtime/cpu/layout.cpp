// Patch layout: patchify (Conv3d-weight order (c, kh, kw)) and unpatchify
// (head order (kh, kw, c), c fastest). Pure copies.
#include "runtime/cpu/ops_cpu.h"

namespace wl::cpu {

void patchify(const Tensor& x, int ph, int pw, Tensor& patches) {
  const int64_t F = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t h = H / ph, w = W / pw, P = C * ph * pw;
  const float* xp = x.f32();
  float* pp = patches.f32();
#pragma omp parallel for collapse(2) schedule(static) if (x.numel() >= detail::kParallelMin)
  for (int64_t f = 0; f < F; ++f)
    for (int64_t hi = 0; hi < h; ++hi)
      for (int64_t wi = 0; wi < w; ++wi) {
        float* dst = pp + ((f * h + hi) * w + wi) * P;
        for (int64_t ci = 0; ci < C; ++ci)
          for (int kh = 0; kh < ph; ++kh) {
            const float* src = xp + ((f * C + ci) * H + hi * ph + kh) * W + wi * pw;
            for (int kw = 0; kw < pw; ++kw) dst[(ci * ph + kh) * pw + kw] = src[kw];
          }
      }
}

void unpatchify(const Tensor& tokens, int64_t frames, int64_t h, int64_t w, int ph, int pw, int64_t channels,
                Tensor& out) {
  const int64_t C = channels, H = h * ph, W = w * pw, P = ph * pw * C;
  const float* tp = tokens.f32();
  float* op = out.f32();
#pragma omp parallel for collapse(2) schedule(static) if (out.numel() >= detail::kParallelMin)
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t ci = 0; ci < C; ++ci)
      for (int64_t y = 0; y < H; ++y) {
        const int64_t hi = y / ph, kh = y % ph;
        float* dst = op + ((f * C + ci) * H + y) * W;
        for (int64_t x = 0; x < W; ++x) {
          const int64_t wi = x / pw, kw = x % pw;
          dst[x] = tp[((f * h + hi) * w + wi) * P + (kh * pw + kw) * C + ci];
        }
      }
}

}  // namespace wl::cpu
