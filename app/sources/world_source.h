// A FrameSource that plays a world package: the sampler steps the causal DiT
// chunk by chunk with the keys held in each frame, the decoder turns latents
// into frames, and a prompt change switches at the next chunk boundary with a
// KV re-cache. The model side of a play-through (store, sampler, start,
// latent scale) is a WorldSession (runtime/model/world_session.h); this adds
// threads, decoding and statistics. A world starts as its package says (its
// own clip, noise or an image), or from a primer's frames when one is given
// (the world benchmark primes from the oracle game, its ground truth). A world that
// decodes on CUDA (dit.backend) can write its frames into a DeviceFrameSink
// instead of returning RGB bytes (the device path, app/device_frames.h).
// A published model with a Wan pixel decoder (World::video_decoder) shows
// frames_per_latent frames per latent frame: a chunk is chunk x that many
// frames, and the frames a stream's first chunk lacks (it gives 1 + 4 (n - 1))
// are made up by decoding one chunk ahead, so every later chunk is whole.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/sources/decode_worker.h"
#include "app/sources/frame_source.h"
#include "cache/kv_store.h"
#include "runtime/core/cpu_threads.h"
#include "runtime/model/published_model.h"
#include "runtime/model/world.h"
#include "runtime/model/world_session.h"

namespace wl::app {

struct WorldSourceOptions {
  std::string dir;               // world package folder, or a published model directory (no world.json)
  PublishedModelOptions published;  // a published model: weights key, LoRAs, umT5's backend (its dit is ours)
  std::string policy;            // empty: the package's
  int64_t budget_frames = 0;     // 0: the package's
  bool allow_external_paths = false;  // a package's files may lie outside its folder (world.h)
  DitOptions dit;                // products (bf16 where the processor has it); backend: also the decoder's
  // CPU: size the thread team between chunks to the cores other processes
  // leave free (runtime/cpu_threads.h). Off: the OpenMP default, fixed.
  bool adaptive_threads = false;
  // > 0: a fixed team size, set on the thread that makes the chunks.
  int threads = 0;
  // A published model's pixel decoder runs on a thread of its own and
  // decodes chunk N while the DiT denoises chunk N+1 (decode_worker.h): the
  // same frames, one chunk later. On the CPU its one thread is taken from the
  // DiT's team when that is adaptive or the OpenMP default (a fixed
  // --threads N stays N). play's --decode-overlap chooses.
  bool decode_overlap = false;
  // RGB8 frames [n][H][W][3] of the world at `seed` for `prompt`, with the
  // actions that led to them; primes the cache instead of the package's own
  // start (when the package has an encoder). Null: the package's start.
  std::function<std::vector<uint8_t>(uint64_t seed, const std::string& prompt, int frames,
                                     std::vector<FrameActions>& actions)>
      primer;
};

class WorldSource final : public FrameSource {
 public:
  explicit WorldSource(const WorldSourceOptions& options);

  FrameFormat format() const override;
  int chunk_frames() const override {
    return static_cast<int>(world_->description().chunk * world_->description().frames_per_latent);
  }
  double nominal_fps() const override { return world_->description().fps; }
  void reset(uint64_t seed, const std::string& prompt) override;
  void set_prompt(const std::string& prompt) override;
  std::string set_cache(const std::string& policy, int64_t budget_frames) override;
  std::vector<std::string> presets() const override { return world_->description().presets; }
  std::string compute_description() const override;
  ChunkStats next_chunk(const ChunkRequest& request, std::vector<uint8_t>& rgb) override;
  bool decodes_on_device() const override {
    return !world_->video_decoder() && world_->decoder().backend() == Backend::CUDA;
  }
  // A world with a streaming pixel decoder (a published model's VAE or
  // TAEHV) is refused: its decoder's caches are not saved yet.
  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;
  std::string identity() const override { return world_->identity(); }
  uint64_t seed() const override { return session_->seed(); }
  std::string prompt() const override { return session_->prompt(); }
  void set_device_sink(DeviceFrameSink* sink) override;
  std::vector<DeviceFrameRef> take_device_frames() override;

  const World& world() const { return *world_; }
  const cache::KvStore& store() const { return session_->store(); }

 private:
  WorldSourceOptions options_;
  std::unique_ptr<World> world_;
  std::unique_ptr<CpuThreadGovernor> governor_;  // null unless options.adaptive_threads on the CPU
  std::unique_ptr<WorldSession> session_;
  DeviceFrameSink* sink_ = nullptr;    // device path: where frames go
  std::vector<DeviceFrameRef> device_frames_;  // the last chunk's, until taken

  // With a video decoder: frames decoded but not yet handed out, RGB8.
  ChunkStats next_video_chunk(LatentVideoDecoder& decoder, const ChunkRequest& request, std::vector<uint8_t>& rgb);
  // Saving finishes the decode in flight, whose frames join the pending ones
  // (so both are mutable); a reset or a load drops it.
  mutable std::vector<uint8_t> pending_rgb_;
  int dit_threads_ = 0;  // > 0: the team set before each chunk (--threads, or the default less the decoder's)
  std::unique_ptr<DecodeWorker> decode_worker_;  // decode_overlap with a video decoder; after world_, so destroyed first
  void take_decoded(StageTimes* stages) const;   // waits for the decode in flight; its frames join pending_rgb_
  void drop_decode();                            // waits for it and discards its frames
};

}  // namespace wl::app
