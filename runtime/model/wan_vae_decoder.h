// The Wan 2.1 VAE decoder (specs/decoders.md §1): the DiT's normalised
// latents to RGB frames in [-1, 1]. It streams one latent frame per decoder
// call with the 32 two-frame caches of its causal convolutions carried, in one
// of two semantics (§1.4):
//   pipeline (the default, what the VAE was trained with): latent 0 gives 1
//     frame and skips both time_convs; later latents give 4. Streaming 1, 3
//     or all latents per call gives the same pixels;
//   demo (Self-Forcing's live demo): every latent gives 4 frames, latent 0
//     included, and the stream's first 3 frames are dropped (by the caller:
//     decode_call returns everything it decoded).
//
// Parameters are named as in Wan2.1_VAE.pth (`conv2.*` and `decoder.*`; the
// encoder's keys are ignored); the width d comes from the weights. CPU, f32,
// built from the blocks it shares with the encoder (wan_vae_blocks.h).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/core/weight_map.h"
#include "runtime/model/wan_vae_blocks.h"

namespace wl {

enum class VaeStreamSemantics { Pipeline, Demo };
// "pipeline" | "demo"; anything else throws naming `what`.
VaeStreamSemantics parse_vae_semantics(const std::string& name, const std::string& what);
const char* vae_semantics_name(VaeStreamSemantics s);

class WanVaeDecoder {
 public:
  explicit WanVaeDecoder(const WeightMap& weights);
  int64_t dim() const { return dim_; }      // d: widths 4d, 4d, 4d, 2d, d (published 96)
  int64_t z_dim() const { return z_dim_; }  // 16
  int conv_slots() const { return conv_slots_; }  // kt = 3 convolutions, one stream cache each
  const std::string& path() const { return path_; }

  // What a stream carries between calls.
  struct Stream {
    explicit Stream(VaeStreamSemantics semantics = VaeStreamSemantics::Pipeline) : semantics(semantics) {}
    VaeStreamSemantics semantics;
    wan_vae::ConvCaches conv;  // per causal kt = 3 convolution: its last 2 input frames (undefined: zeros)
    int64_t calls = 0;         // latent frames decoded so far
  };
  // Debug taps of one call under the fixture's names (z_denorm, conv1, middle,
  // upsamples.N, head.2).
  using Taps = std::map<std::string, Tensor>;

  // Pixel frames one latent frame gives: 1 for a pipeline stream's first, 4 otherwise.
  static int64_t frames_for(const Stream& s) {
    return s.semantics == VaeStreamSemantics::Pipeline && s.calls == 0 ? 1 : 4;
  }
  // One latent frame zn [1, z_dim, h, w] (normalised, as the DiT emits it) ->
  // pixels before the clamp [frames_for(s), 3, 8h, 8w].
  Tensor decode_call(const Tensor& latent, Stream& s, Taps* taps = nullptr) const;
  // latents [n, z_dim, h, w] through decode_call one after another ->
  // pixels clamped to [-1, 1]; `raw` (if given) receives them unclamped.
  Tensor decode(const Tensor& latents, Stream& s, Tensor* raw = nullptr) const;

 private:
  struct Upsample {  // Resample upsample2d / upsample3d(C): C -> C/2 channels, 2x space, 2x time if temporal
    bool temporal = false;
    wan_vae::CausalConv time_conv;  // 3x1x1, C -> 2C
    ops::ConvWeight resample;       // 3x3, C -> C/2, after up2
  };
  struct Stage {  // one entry of decoder.upsamples
    bool is_upsample = false;
    wan_vae::ResidualBlock res;
    Upsample up;
  };
  Tensor apply(const Upsample& u, const Tensor& x, Stream& s) const;

  std::string path_;
  int64_t dim_ = 0, z_dim_ = 0;
  int conv_slots_ = 0;
  wan_vae::CausalConv conv2_;  // top-level 1x1x1, z -> z
  wan_vae::CausalConv conv1_;  // decoder.conv1, z -> 4d
  wan_vae::ResidualBlock middle0_, middle2_;
  wan_vae::AttentionBlock middle1_;
  std::vector<Stage> upsamples_;
  Tensor head_gamma_;  // [d]
  wan_vae::CausalConv head2_;  // d -> 3
};

}  // namespace wl
