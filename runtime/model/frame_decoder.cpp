#include "runtime/model/frame_decoder.h"

#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "runtime/core/unit_rgb8.h"

namespace wl {

void unit_rgb_to_rgb8(const Tensor& img, std::vector<uint8_t>& rgb) {
  if (img.rank() != 4 || img.dim(1) != 3 || img.dtype() != DType::F32 || img.backend() != Backend::CPU)
    throw Error("unit_rgb_to_rgb8: image " + shape_str(img.shape()) + " must be [F, 3, H, W] F32 on the CPU");
  const int64_t frames = img.dim(0), height = img.dim(2), width = img.dim(3), plane = height * width;
  rgb.resize(static_cast<size_t>(frames * plane * 3));
  const float* p = img.f32();
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < plane; ++i) rgb[(f * plane + i) * 3 + c] = unit_to_u8(p[(f * 3 + c) * plane + i]);
}

void FrameDecoder::decode_rgb8(const Tensor& z, std::vector<uint8_t>& rgb) const {
  unit_rgb_to_rgb8(ops::to_backend(decode(z), Backend::CPU), rgb);  // [F, 3, H, W] -> [F][H][W][3]
}

}  // namespace wl
