// The embedded worlds' image autoencoder (tools/train/WORLD_FORMAT.md): the
// decoder turns latents into RGB frames (part of every reported frame time),
// the encoder turns oracle frames into latents to prime the cache.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/ops.h"
#include "runtime/safetensors.h"
#include "runtime/tensor.h"

namespace wl {

class ImageDecoder {
 public:
  explicit ImageDecoder(const WeightMap& weights);
  int64_t latent_channels() const { return conv_in_.in_channels(); }
  int upsampling() const { return 1 << static_cast<int>(blocks_.size()); }
  // z [F, C, h, w] -> RGB in [-1, 1] [F, 3, h * upsampling, w * upsampling].
  Tensor decode(const Tensor& z) const;
  // As decode(), then to RGB8 pixels, frame after frame, rows top first: [F][H][W][3].
  void decode_rgb8(const Tensor& z, std::vector<uint8_t>& rgb) const;

 private:
  struct Block {
    ops::ConvWeight conv1, conv2;
  };
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
