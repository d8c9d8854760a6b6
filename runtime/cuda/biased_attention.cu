// biased_attention on the device (CPU twin: runtime/cpu/biased_attention.cpp).
// One block per (query i, head h): the threads compute the logits of the kept
// keys into shared memory, reduce their max and the sum of exponentials, then
// each thread accumulates output columns. f32 throughout; a query with no
// kept key writes zeros. Plain rather than fast: the umT5 encoder calls it
// once per layer per prompt.
#include <cfloat>
#include <string>

#include "runtime/core/error.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/kernel_common.cuh"
#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {

namespace {

using namespace kernels;

constexpr int kAttnThreads = 128;

__device__ inline float block_max_f(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : -FLT_MAX;
  for (int o = 16; o > 0; o >>= 1) r = fmaxf(r, __shfl_xor_sync(0xffffffffu, r, o));
  return r;
}

__device__ inline float block_sum_f(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : 0.0f;
  for (int o = 16; o > 0; o >>= 1) r += __shfl_xor_sync(0xffffffffu, r, o);
  return r;
}

// Shared memory: p [Lk] logits then weights, q row [d].
__global__ void biased_attention_kernel(const float* q, const float* k, const float* v, const float* bias,
                                        const float* mask, float scale, int64_t Lq, int64_t H, int64_t d,
                                        int64_t Lk, float* out) {
  extern __shared__ float sh[];
  __shared__ float scratch[32];
  float* p = sh;
  float* qs = sh + Lk;
  const int64_t i = blockIdx.x / H, h = blockIdx.x % H;
  const int64_t row = H * d;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) qs[c] = q[i * row + h * d + c];
  __syncthreads();
  const float* bi = bias ? bias + (h * Lq + i) * Lk : nullptr;
  float mx = -FLT_MAX;
  bool any = false;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) {
    if (mask && mask[j] == 0.0f) {
      p[j] = 0.0f;
      continue;
    }
    const float* kj = k + j * row + h * d;
    float s = 0.0f;
    for (int64_t c = 0; c < d; ++c) s = fmaf(qs[c], kj[c], s);
    s = s * scale + (bi ? bi[j] : 0.0f);
    p[j] = s;
    mx = fmaxf(mx, s);
    any = true;
  }
  const float kept = block_sum_f(any ? 1.0f : 0.0f, scratch);
  mx = block_max_f(mx, scratch);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) {
    if (mask && mask[j] == 0.0f) continue;
    const float w = expf(p[j] - mx);
    p[j] = w;
    sum += w;
  }
  sum = block_sum_f(sum, scratch);  // its barrier also publishes p
  const float inv = (kept > 0.0f && sum > 0.0f) ? 1.0f / sum : 0.0f;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < Lk; ++j) acc = fmaf(p[j], v[j * row + h * d + c], acc);
    out[i * row + h * d + c] = acc * inv;
  }
}

}  // namespace

void biased_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& key_mask,
                      float scale, Tensor& out) {
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2), Lk = k.dim(0);
  if (Lq * H == 0 || d == 0) return;
  const size_t shared = static_cast<size_t>(Lk + d) * sizeof(float);
  constexpr size_t kMaxShared = 48 * 1024;
  if (shared > kMaxShared)
    throw Error("biased_attention: " + std::to_string(Lk) + " keys of width " + std::to_string(d) +
                " exceed the CUDA kernel's shared memory (" + std::to_string(kMaxShared) + " bytes)");
  const unsigned blocks = row_blocks(Lq * H, "biased_attention");
  biased_attention_kernel<<<blocks, kAttnThreads, shared, stream()>>>(
      q.f32(), k.f32(), v.f32(), bias.defined() ? bias.f32() : nullptr, key_mask.defined() ? key_mask.f32() : nullptr,
      scale, Lq, H, d, Lk, out.f32());
  WL_CUDA_CHECK_LAUNCH();
}

}  // namespace wl::cuda
