// What turns a model's latents into frames, whichever part it is: the shipped
// worlds' image decoder (image_codec.h), the latent preview of a published
// model that has no decoder loaded (latent_preview.h), and the Wan VAE and
// TAEHV decoders to come. Frames are RGB in [-1, 1], [F, 3, H, W], F32, on
// the decoder's backend, so the host path (decode_rgb8) and the device path
// (DeviceFrameSink, docs/ARCHITECTURE.md) both work with any of them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl {

// RGB in [-1, 1] [F, 3, H, W] (F32, on the CPU) -> RGB8 pixels, frame after
// frame, rows top first: [F][H][W][3], each channel by unit_to_u8
// (runtime/core/unit_rgb8.h). The CPU twin of cuda::pack_rgba8 (runtime/cuda/frame_pack.h).
void unit_rgb_to_rgb8(const Tensor& img, std::vector<uint8_t>& rgb);

class FrameDecoder {
 public:
  virtual ~FrameDecoder() = default;
  // What it is, for logs and the overlay: "image decoder", "latent preview".
  virtual std::string kind() const = 0;
  virtual Backend backend() const = 0;
  virtual int64_t latent_channels() const = 0;
  // Pixels per latent pixel along each side.
  virtual int upsampling() const = 0;
  // z [F, C, h, w] (any backend) -> RGB in [-1, 1] [F, 3, h * up, w * up] on backend().
  virtual Tensor decode(const Tensor& z) const = 0;
  // As decode(), then RGB8 pixels on the host (unit_rgb_to_rgb8): [F][H][W][3].
  void decode_rgb8(const Tensor& z, std::vector<uint8_t>& rgb) const;
};

}  // namespace wl
