// cuda::pack_rgba8 (runtime/cuda/frame_pack.h): one thread per pixel reads
// the three colour planes of a frame and writes one RGBA8 word.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/frame_pack.h"
#include "runtime/core/error.h"
#include "runtime/core/unit_rgb8.h"

namespace wl::cuda {

namespace {

constexpr int kThreads = 256;

// src: one frame's planes [3, plane] (R, G, B); dst: plane RGBA8 words.
__global__ void pack_rgba8_kernel(const float* __restrict__ src, int64_t plane, uint32_t* __restrict__ dst) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= plane) return;
  const uint32_t r = unit_to_u8(src[i]);
  const uint32_t g = unit_to_u8(src[plane + i]);
  const uint32_t b = unit_to_u8(src[2 * plane + i]);
  dst[i] = r | (g << 8) | (b << 16) | (0xffu << 24);  // bytes R, G, B, A in memory (little-endian)
}

}  // namespace

void pack_rgba8(const Tensor& img, const std::vector<void*>& dst, CUstream_st* stream) {
  if (img.backend() != Backend::CUDA || img.dtype() != DType::F32 || img.rank() != 4 || img.dim(1) != 3)
    throw Error("pack_rgba8: image " + shape_str(img.shape()) + " must be [F, 3, H, W] F32 on CUDA");
  const int64_t frames = img.dim(0), plane = img.dim(2) * img.dim(3);
  if (static_cast<int64_t>(dst.size()) != frames)
    throw Error("pack_rgba8: " + std::to_string(dst.size()) + " destinations for " + std::to_string(frames) +
                " frames");
  for (void* p : dst)
    if (!p || reinterpret_cast<uintptr_t>(p) % 4 != 0)
      throw Error("pack_rgba8: a destination is null or not 4-byte aligned");
  if (plane == 0) return;
  const int64_t blocks = (plane + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffff) throw Error("pack_rgba8: frame of " + std::to_string(plane) + " pixels is too large");
  const float* src = img.f32();
  for (int64_t f = 0; f < frames; ++f) {
    pack_rgba8_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(src + f * 3 * plane, plane,
                                                                              static_cast<uint32_t*>(dst[f]));
    WL_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace wl::cuda
