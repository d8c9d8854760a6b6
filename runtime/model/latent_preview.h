// The latent preview: a published model's latents shown without a pixel
// decoder. Each latent pixel's 16 Wan 2.1 VAE channels are projected to RGB by
// a fixed linear map with a bias (the factors previewers use for Wan 2.1
// latents, fitted against the VAE), so a model plays end to end before its
// real decoder (Wan VAE or TAEHV, docs/model.md) is loaded. It is an honest
// approximation: colours and layout, no detail, at latent resolution.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"
#include "runtime/model/frame_decoder.h"

namespace wl {

class LatentPreview final : public FrameDecoder {
 public:
  static constexpr int64_t kChannels = 16;  // Wan 2.1 VAE latent channels
  explicit LatentPreview(Backend on = Backend::CPU);
  std::string kind() const override { return "latent preview"; }
  Backend backend() const override { return backend_; }
  int64_t latent_channels() const override { return kChannels; }
  int upsampling() const override { return 1; }
  // z [F, 16, h, w] (the DiT's latents, the VAE's normalised space) -> RGB in
  // about [-1, 1] [F, 3, h, w] on backend(). Throws wl::Error on another channel count.
  Tensor decode(const Tensor& z) const override;

  // The map itself: rgb[c] = bias[c] + sum_k factor(k, c) z[k].
  static float factor(int latent_channel, int rgb_channel);
  static float bias(int rgb_channel);

 private:
  Backend backend_;
  ops::ConvWeight project_;  // weight [3, 16, 1, 1], bias [3]: a 1x1 convolution
};

}  // namespace wl
