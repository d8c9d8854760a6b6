// The Wan 2.1 VAE encoder (specs/encoders.md §3): pixel frames in [-1, 1] to
// the normalised 16-channel latents the DiT consumes. It streams the way the
// reference does: frame 0 alone, then 4 frames per call, every causal
// convolution's last two input frames and every downsample3d's last frame
// carried between calls, one latent frame out per call.
//
// Parameters are named as in Wan2.1_VAE.pth (`encoder.*` and the outer
// `conv1.*`); the widths come from the weights' shapes. CPU only, built from
// the blocks it shares with the decoder (wan_vae_blocks.h).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"
#include "runtime/core/weight_map.h"
#include "runtime/model/wan_vae_blocks.h"

namespace wl {

// Wan 2.1's latent normalisation (not in the checkpoint): latents = (mu - mean) / std.
extern const float kWanLatentMean[16];
extern const float kWanLatentStd[16];

class WanVaeEncoder {
 public:
  explicit WanVaeEncoder(const WeightMap& weights);
  int64_t dim() const { return dim_; }      // d: widths d, d, 2d, 4d, 4d (published 96)
  int64_t z_dim() const { return z_dim_; }  // 16

  // What a stream carries between calls (empty tensors: zeros, nothing seen yet).
  struct Stream {
    std::vector<Tensor> conv;  // per causal 3x3x3 convolution: its last 2 input frames [2, C, H, W]
    std::vector<Tensor> time;  // per downsample3d: its last spatial output frame [1, C, H, W]
    int64_t calls = 0;
  };
  // Debug taps of one call, under the fixture's module names (conv1,
  // downsamples.2/.5/.8/.10, middle, head.2).
  using Taps = std::map<std::string, Tensor>;

  // One encoder call: frames [n, 3, H, W] (n = 1 on a stream's first call, 4
  // after) -> [1, 2 z_dim, H/8, W/8], the outer conv1's output (mu | logvar).
  Tensor encode_call(const Tensor& frames, Stream& stream, Taps* taps = nullptr) const;
  // A whole clip [T, 3, H, W] -> latents [1 + (T-1)/4, z_dim, H/8, W/8]
  // normalised; frames past 1 + 4 ((T-1)/4) are dropped as the reference does.
  // mu_out / logvar_out (if given) receive the raw halves, `taps` (if given)
  // each call's debug taps.
  Tensor encode(const Tensor& video, Tensor* mu_out = nullptr, Tensor* logvar_out = nullptr,
                std::vector<Taps>* taps = nullptr) const;
  // raw [n, 2 z_dim, h, w] (encode_call's output) -> latents [n, z_dim, h, w]:
  // (mu - mean) / std, mu the first z_dim channels.
  Tensor latents_of(const Tensor& raw) const;

 private:
  struct Downsample {
    ops::ConvWeight spatial;  // 3x3 stride 2 after (right 1, bottom 1) zero padding
    bool temporal = false;
    std::vector<ops::ConvWeight> time_taps;  // [C, C] per tap (1x1), bias on tap 0
    int slot = -1;                           // index into Stream::time
  };
  struct Stage {  // one entry of encoder.downsamples: a residual block or a resample
    bool is_resample = false;
    wan_vae::ResidualBlock res;
    Downsample down;
  };

  Tensor apply(const Downsample& d, const Tensor& x, Stream& s) const;

  std::string path_;
  int64_t dim_ = 0, z_dim_ = 0;
  int conv_slots_ = 0, time_slots_ = 0;
  wan_vae::CausalConv conv1_;
  std::vector<Stage> downsamples_;
  wan_vae::ResidualBlock middle0_, middle2_;
  wan_vae::AttentionBlock middle1_;
  Tensor head_gamma_;
  wan_vae::CausalConv head2_;
  wan_vae::CausalConv out_conv1_;  // top-level conv1, 1x1x1
};

}  // namespace wl
