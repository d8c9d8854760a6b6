// Wan 2.1 latents to shown frames, streaming, with either published decoder
// (specs/decoders.md): the Wan VAE or TAEHV, in the semantics the user chose,
// with each stream's leading frames dropped where that semantics drops them,
// and every frame RGB in [-1, 1] (the VAE's clamp; TAEHV's raw * 2 - 1).
//
//   vae, pipeline (default): 1 frame for the first latent, 4 for each later one;
//   vae, demo:               4 per latent, the stream's first 3 dropped;
//   taehv, carried (default): 4 per latent with the memories carried, the first 3 dropped;
//   taehv, demo:             each block re-decoded with the previous one as context.
//
// push() is one API call: pipeline VAE and carried TAEHV give the same frames
// however the latents are split; the demo modes depend on the split (the
// demo pushes DiT blocks of 3).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/core/state_file.h"
#include "runtime/core/tensor.h"
#include "runtime/core/weight_map.h"
#include "runtime/model/taehv_decoder.h"
#include "runtime/model/wan_vae_decoder.h"

namespace wl {

enum class LatentDecoderKind { Vae, Taehv };

// What a checkpoint holds: Vae for Wan2.1_VAE.pth's decoder keys, Taehv for
// taew2_1's; throws naming the file when it is neither.
LatentDecoderKind detect_latent_decoder(const WeightMap& weights);
// "vae" | "taehv"; anything else throws naming `what`.
LatentDecoderKind parse_latent_decoder(const std::string& name, const std::string& what);
const char* latent_decoder_name(LatentDecoderKind k);

struct LatentVideoDecoderOptions {
  bool demo = false;  // the live demo's semantics (--vae-stream demo / --taehv-stream demo)
};

class LatentVideoDecoder {
 public:
  // Takes the decoder from `weights`, which must outlive it only for the call.
  LatentVideoDecoder(const WeightMap& weights, LatentVideoDecoderOptions options = {});
  LatentDecoderKind kind() const { return kind_; }
  bool demo() const { return options_.demo; }
  int64_t latent_channels() const;
  int64_t upsampling() const { return 8; }          // pixels per latent pixel, each way
  int64_t frames_per_latent() const;  // after a stream's first latent: 4 for both published decoders
  // "Wan 2.1 VAE (d 96, pipeline)", for logs.
  std::string describe() const;

  // latents [n, 16, h, w] (the DiT's normalised space) -> the frames they add
  // to the video, RGB in [-1, 1] [F, 3, 8h, 8w]. The first push of n latents
  // gives 1 + 4 (n - 1) frames in every mode, later pushes 4 n.
  Tensor push(const Tensor& latents);
  // Starts a new stream (caches, memories and the trim).
  void reset();
  int64_t latents_decoded() const { return latents_; }

  // Saved world states (runtime/core/state_file.h): the stream under
  // `prefix` (the VAE's convolution caches, TAEHV's memories or the demo
  // window's context, and the count), so that a loaded stream decodes on
  // exactly as the saved one would. load_state refuses another decoder or
  // semantics, and caches of the wrong form, by name.
  void save_state(StateWriter& out, const std::string& prefix) const;
  void load_state(const StateReader& in, const std::string& prefix);

 private:
  LatentDecoderKind kind_;
  LatentVideoDecoderOptions options_;
  std::unique_ptr<WanVaeDecoder> vae_;
  std::unique_ptr<TaehvDecoder> taehv_;
  std::unique_ptr<WanVaeDecoder::Stream> vae_stream_;
  std::unique_ptr<TaehvDecoder::Stream> taehv_stream_;
  std::unique_ptr<TaehvDemoWindow> taehv_window_;
  int64_t latents_ = 0;
};

}  // namespace wl
