// A start image as MG2 prepares it (specs/encoders.md §1): centre crop to the
// target aspect with PIL's rounding, Pillow's 8-bit fixed-point BILINEAR
// resize (bit-exact), then [-1, 1]. The VAE encoder and CLIP both take the
// resulting frame.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl {

// An HWC uint8 RGB image.
struct ImageU8 {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3]
};

// The integer box (x0, y0, x1, y1) PIL crops for _resizecrop's float box
// (§1.2); it may be one pixel larger than the aspect asks.
std::array<int64_t, 4> centre_crop_box(int64_t height, int64_t width, int64_t target_h, int64_t target_w);
ImageU8 crop(const ImageU8& image, const std::array<int64_t, 4>& box);

// Pillow's Image.resize(BILINEAR) in 8-bit fixed point: horizontal pass first
// (only when the width changes), rounded to uint8, then the vertical pass
// (only when the height changes); antialiased when shrinking (§1.3).
ImageU8 pillow_bilinear_resize(const ImageU8& image, int64_t out_h, int64_t out_w);

// crop + resize: the frame MG2 works from, still uint8.
ImageU8 prepare_start_image(const ImageU8& image, int64_t target_h, int64_t target_w);

// [3, H, W] f32 with 2 * u8 / 255 - 1 (§1.4).
Tensor frame_from_u8(const ImageU8& image);

}  // namespace wl
