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
#include "runtime/model/frame_decoder.h"

namespace wl {

class ImageDecoder final : public FrameDecoder {
 public:
  // Prepares the weights for backend `on` (CUDA: uploaded once, here).
  explicit ImageDecoder(const WeightMap& weights, Backend on = Backend::CPU);
  std::string kind() const override { return "image decoder"; }
  Backend backend() const override { return backend_; }
  int64_t latent_channels() const override { return conv_in_.in_channels(); }
  int upsampling() const override { return 1 << static_cast<int>(blocks_.size()); }
  // z [F, C, h, w] (any backend; F32 when not on the CPU) -> RGB in [-1, 1]
  // [F, 3, h * upsampling, w * upsampling] on backend().
  Tensor decode(const Tensor& z) const override;

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
