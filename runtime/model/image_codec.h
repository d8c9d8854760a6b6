// The embedded worlds' image autoencoder (tools/train/WORLD_FORMAT.md): the
// decoder turns latents into RGB frames (part of every reported frame time),
// the encoder turns oracle frames into latents to prime the cache. The decoder
// runs on the CPU or on CUDA (weights prepared for the backend once); the
// encoder only primes the cache and stays on the CPU.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"

namespace wl {

// RGB in [-1, 1] [F, 3, H, W] (F32, on the CPU) -> RGB8 pixels, frame after
// frame, rows top first: [F][H][W][3], each channel by unit_to_u8
// (runtime/unit_rgb8.h). The CPU twin of cuda::pack_rgba8 (runtime/cuda/frame_pack.h).
void unit_rgb_to_rgb8(const Tensor& img, std::vector<uint8_t>& rgb);

class ImageDecoder {
 public:
  // Prepares the weights for backend `on` (CUDA: uploaded once, here).
  explicit ImageDecoder(const WeightMap& weights, Backend on = Backend::CPU);
  Backend backend() const { return backend_; }
  int64_t latent_channels() const { return conv_in_.in_channels(); }
  int upsampling() const { return 1 << static_cast<int>(blocks_.size()); }
  // z [F, C, h, w] (any backend; F32 when not on the CPU) -> RGB in [-1, 1]
  // [F, 3, h * upsampling, w * upsampling] on backend().
  Tensor decode(const Tensor& z) const;
  // As decode(), then to RGB8 pixels on the host (unit_rgb_to_rgb8): [F][H][W][3].
  void decode_rgb8(const Tensor& z, std::vector<uint8_t>& rgb) const;

 private:
  struct Block {
    ops::ConvWeight conv1, conv2;
  };
  Backend backend_ = Backend::CPU;
  ops::ConvWeight conv_in_, conv_out_;
  std::vector<Block> blocks_;
};

class ImageEncoder {
 public:
  explicit ImageEncoder(const WeightMap& weights);
  int downsampling() const { return 1 << static_cast<int>(blocks_.size()); }
  // RGB in [-1, 1] [F, 3, H, W] -> z [F, C, H / downsampling, W / downsampling].
  Tensor encode(const Tensor& rgb) const;
  // RGB8 frames [F][H][W][3] -> z.
  Tensor encode_rgb8(const uint8_t* rgb, int64_t frames, int64_t height, int64_t width) const;

 private:
  struct Block {
    ops::ConvWeight conv1, down;
  };
  ops::ConvWeight conv_in_, conv_out_;
  std::vector<Block> blocks_;
};

}  // namespace wl
