// Matrix-Game 2.0's cond_concat (specs/encoders.md §4): the start frame
// followed by mid-grey frames (exactly 0.0), encoded as one causal video by
// the Wan VAE encoder, after a 4-channel mask that is 1 on latent frame 0.
// The DiT call for latent frames [s, s+n) takes rows [s, s+n) after its 16
// noisy channels.
#pragma once
#include <cstdint>

#include "runtime/core/tensor.h"
#include "runtime/model/wan_vae_encoder.h"

namespace wl {

// From latent frame 29 on the grey continuation's latents are constant (its
// temporal receptive field holds only grey frames), so at most this many
// latent frames are encoded and the last is repeated.
constexpr int64_t kMg2ConstantGreyFrom = 29;
// MG2 encodes in tiles of 352 x 640 pixels; frames up to that size are one
// tile, identical to the untiled encode (the only case implemented).
constexpr int64_t kMg2TileHeight = 352, kMg2TileWidth = 640;

// frame [3, th, tw] in [-1, 1], th and tw multiples of 8 -> [F, 20, th/8, tw/8].
Tensor mg2_cond_concat(const WanVaeEncoder& vae, const Tensor& frame, int64_t latent_frames);

}  // namespace wl
