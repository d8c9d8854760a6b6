// The device end of the CUDA -> Vulkan frame hand-off (docs/ARCHITECTURE.md, the device path):
// the image decoder's output turned into RGBA8 frames on the GPU, written
// straight into memory the presenter reads (a slot of the imported ring,
// runtime/cuda/vk_import.h). The CPU twin is wl::unit_rgb_to_rgb8
// (runtime/model/frame_decoder.h): the same bytes per channel (unit_to_u8,
// runtime/core/unit_rgb8.h), plus alpha 255.
//
// Built only with WORLDLOOP_CUDA (guard includes with WORLDLOOP_HAS_CUDA).
// Plain types only: no CUDA header is needed to include this one.
#pragma once
#include <vector>

#include "runtime/core/tensor.h"

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace wl::cuda {

// img: a CUDA tensor [F, 3, H, W] F32 (RGB in [-1, 1]); dst: F device
// pointers, each to H * W * 4 bytes, 4-byte aligned: frame f becomes RGBA8
// rows, top row first, alpha 255, in dst[f]. Queued on `stream`; returns
// without waiting. Throws wl::Error on bad arguments or a failed launch.
void pack_rgba8(const Tensor& img, const std::vector<void*>& dst, CUstream_st* stream);

}  // namespace wl::cuda
