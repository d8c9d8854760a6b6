// TAEHV's decoder for Wan 2.1 latents (taew2_1, specs/decoders.md §2): a
// tiny approximate decoder, about 25x cheaper than the Wan VAE. It takes the
// DiT's normalised latents as they are and emits RGB in about [0, 1], not
// clamped, `frames_per_latent()` frames per latent frame (4 for taew2_1).
//
// Streaming carries each MemBlock's last input frame between calls (9
// one-frame memories), which is exact: any split of the latents into calls
// gives the frames of one whole-video decode. The first `frames_to_trim()`
// frames of a stream have no counterpart in the Wan VAE's output and are
// dropped by the caller (decode_call returns every raw frame).
//
// Parameters are named as in taew2_1.pth (`decoder.<Sequential index>.*`);
// the widths n_f and the TGrow strides come from the weights. CPU, f32
// (fp16 weights are widened at load).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"
#include "runtime/core/weight_map.h"

namespace wl {

class TaehvDecoder {
 public:
  explicit TaehvDecoder(const WeightMap& weights);
  int memory_slots() const { return mem_blocks_; }  // MemBlocks, one memory each
  const std::vector<int64_t>& widths() const { return n_f_; }  // n_f (published 256, 128, 64, 64)
  int64_t latent_channels() const { return latent_channels_; }  // 16
  int64_t frames_per_latent() const { return frames_per_latent_; }
  int64_t frames_to_trim() const { return frames_per_latent_ - 1; }
  const std::string& path() const { return path_; }

  struct Stream {
    std::vector<Tensor> memory;  // per MemBlock: its input at the previous frame [1, n, H, W] (undefined: zeros)
    int64_t latents = 0;         // latent frames decoded so far
  };
  // Debug taps: the output of decoder[N] over this call's frames, for N in 0..22.
  using Taps = std::map<int, Tensor>;

  // latents [T, 16, h, w] -> raw RGB [T * frames_per_latent(), 3, 8h, 8w],
  // about [0, 1], the stream's memories carried.
  Tensor decode_call(const Tensor& latents, Stream& s, Taps* taps = nullptr) const;

 private:
  struct MemBlock {  // conv.0 [n, 2n, 3, 3], conv.2 and conv.4 [n, n, 3, 3], all with bias
    ops::ConvWeight conv0, conv2, conv4;
    int slot = 0;  // index into Stream::memory
  };
  struct Layer {
    enum Kind { Clamp, Conv, Relu, Mem, Upsample, TGrow } kind;
    int index = 0;  // in decoder.* (Sequential index)
    ops::ConvWeight conv;  // Conv; TGrow: the 1x1 [s n, n]
    MemBlock mem;
    int64_t stride = 1;  // TGrow
  };
  Tensor apply(const MemBlock& m, const Tensor& x, Stream& s) const;

  std::string path_;
  std::vector<int64_t> n_f_;
  int64_t latent_channels_ = 0, frames_per_latent_ = 1;
  int mem_blocks_ = 0;
  std::vector<Layer> layers_;
};

// The live demo's TAEHV windowing (specs/decoders.md §2.3): no memory carried;
// each block of latents is decoded from fresh memories together with the
// previous block as context, and only the current block's frames are kept.
// The first block keeps raw[frames_to_trim():], every later one
// raw[frames_per_latent * previous block:]. Frames are mapped to [-1, 1]
// (raw * 2 - 1). Costs 2x per shown frame; from the third block on the
// pixels differ from the carried-memory decode.
class TaehvDemoWindow {
 public:
  explicit TaehvDemoWindow(const TaehvDecoder& decoder) : decoder_(decoder) {}
  Tensor decode_block(const Tensor& latents);  // [B, 16, h, w] -> [kept, 3, 8h, 8w] in [-1, 1]
  // The context the next block is decoded with (saved world states).
  const Tensor& context() const { return previous_; }
  void set_context(Tensor latents) { previous_ = std::move(latents); }

 private:
  const TaehvDecoder& decoder_;
  Tensor previous_;  // the last block's latents
};

}  // namespace wl
