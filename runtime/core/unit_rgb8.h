// The rule that turns the image decoder's output (a colour value in [-1, 1])
// into an 8-bit channel: round((v + 1) * 127.5) half away from zero, clamped
// to 0..255, NaN -> 0. Shared by the CPU conversion (unit_rgb_to_rgb8,
// runtime/model/frame_decoder.cpp) and the CUDA kernel that writes frames into
// the presenter's memory (runtime/cuda/frame_pack.cu), so both give the same
// bytes. (v + 1) * 127.5 is an add then a multiply: no FMA contraction applies.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define WL_HOST_DEVICE __host__ __device__
#else
#define WL_HOST_DEVICE
#endif

namespace wl {

WL_HOST_DEVICE inline uint8_t unit_to_u8(float v) {
  const float s = roundf((v + 1.0f) * 127.5f);
  if (!(s >= 0.0f)) return 0;  // negative or NaN
  if (s >= 255.0f) return 255;
  return static_cast<uint8_t>(s);
}

}  // namespace wl
