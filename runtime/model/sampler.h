// The few-step flow-matching sampler around the causal DiT (docs/model.md §4): a
// stream of finished latent chunks with no fixed length and no position cap.
//
//   chunk   Self Forcing / Causal Forcing: per chunk one call per step (fresh
//           noise between steps), then a clean pass that leaves the chunk's
//           keys in the cache. chunk = 1 is frame-wise.
//   rolling Rolling Forcing: a window of len(steps) chunks at rising noise
//           levels is denoised by one call per shift; the oldest leaves the
//           window finished and is re-run clean into the cache. Needs a
//           RollingWindowKv.
//
// Prompt switch (LongLive): set_prompt() between chunks recomputes the
// cross-attention keys and values and re-runs the most recent clean frames
// (sink frames excepted) at t = context_noise so their cached keys carry the
// new prompt.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cache/kv_access.h"
#include "runtime/model/causal_dit.h"
#include "runtime/model/flow_schedule.h"
#include "runtime/model/noise_source.h"
#include "runtime/core/state_file.h"

namespace wl {

enum class SamplerMode { Chunk, Rolling };

struct SamplerSettings {
  std::vector<int> steps = {1000, 750, 500, 250};
  double shift = 5.0;
  int64_t chunk = 3;           // latent frames per chunk
  float context_noise = 0.0f;  // timestep of the clean pass
  SamplerMode mode = SamplerMode::Chunk;
  int64_t height = 0, width = 0;  // latent size
  int64_t total_chunks = 0;       // rolling: the video ends after this many chunks (0: endless)
  int64_t sink_frames = 0;        // frames a prompt switch does not re-run
  int64_t recache_frames = 0;     // prompt switch: clean frames re-run (0: none)
};

struct SamplerTiming {
  double denoise_ms = 0;       // the denoising calls of the last chunk
  double cache_update_ms = 0;  // its clean pass(es) and any prompt re-cache
};

class Sampler {
 public:
  Sampler(CausalDit& model, cache::KvAccess& cache, NoiseSource& noise, const SamplerSettings& settings);

  const SamplerSettings& settings() const { return settings_; }
  const FlowSchedule& schedule() const { return schedule_; }

  // The prompt context [L, text_dim]. Before the first chunk it just sets the
  // prompt; later it switches at this chunk boundary with a KV re-cache.
  void set_prompt(const Tensor& context);

  // The next finished chunk: latents [chunk, C, H, W]. `actions` [chunk,
  // action_dim] are the keys held during the chunk's frames (models with an
  // action embedding; undefined: none). Throws wl::Error after the last chunk
  // of a fixed-length rolling video.
  Tensor next_chunk(const Tensor& actions = Tensor());

  // Primes the cache with known clean frames (e.g. encoded oracle frames):
  // latents [n * chunk, C, H, W] and their actions are run as clean passes and
  // generation continues after them. Only before the first chunk, chunk mode.
  void prime(const Tensor& latents, const Tensor& actions = Tensor());
  // Matrix-Game 2.0 (a model with config().image_dim and action blocks):
  // cond_concat [F, Cc, H, W] goes after each call's latents (rows
  // [start, start+f)); the prompt (set_prompt) is the CLIP visual context.
  void set_image_condition(const Tensor& cond_concat);
  // MG2: keyboard [N, K] and mouse [N, 2], one row per pixel frame from the
  // video's first; a call reads the rows its window needs (1 + 4(s+f-1) for
  // frames [s, s+f)). Replace them with longer tensors as play goes on.
  void set_pixel_actions(const Tensor& keyboard, const Tensor& mouse);
  bool finished() const;
  int64_t chunks_done() const { return chunks_done_; }
  const SamplerTiming& last_timing() const { return timing_; }
  // Called before every model call with its first frame, per-frame timesteps
  // and whether it is a cache update (for tests, logging and the overlay).
  using CallObserver = std::function<void(int64_t start, const std::vector<float>& t, bool cache_update)>;
  void set_call_observer(CallObserver observer) { observer_ = std::move(observer); }

  // The frames the last prompt switch re-ran (for tests and the overlay).
  const std::vector<int64_t>& last_recache_frames() const { return recached_; }

  // Saved world states (runtime/core/state_file.h), between chunks: the
  // prompt context in force, the chunk counters, a rolling window's partly
  // denoised chunks with their levels, the clean chunks a prompt switch
  // would re-run, and MG2's image condition and pixel-frame actions.
  void save_state(StateWriter& out, const std::string& prefix) const;
  // Into a sampler that has made no chunk yet, with the same settings as the
  // one that saved (refused by name otherwise). Sets the model's prompt.
  void load_state(const StateReader& in, const std::string& prefix);

 private:
  Tensor next_chunk_wise(const Tensor& actions);
  Tensor next_rolling(const Tensor& actions);
  Tensor call_model(const Tensor& x, const std::vector<float>& t, int64_t start, bool cache_update,
                    const Tensor& actions);
  // Runs one call and returns x0 = x - sigma * v for every frame.
  Tensor denoise(const Tensor& x, const std::vector<float>& t, int64_t start, bool cache_update,
                 const Tensor& actions);
  void clean_pass(const Tensor& x0, int64_t chunk_index, int64_t start, const Tensor& actions);
  void remember_clean(int64_t chunk_index, const Tensor& x0, const Tensor& actions);
  void recache();
  Shape chunk_shape() const;

  struct Active {
    int64_t chunk;   // chunk index in the video
    size_t level;    // index into the schedule's timesteps
    Tensor x;        // current noisy state [chunk, C, H, W]
    Tensor actions;  // [chunk, action_dim] or undefined
  };
  struct Clean {
    Tensor x0, actions;
  };

  CausalDit& model_;
  cache::KvAccess& cache_;
  NoiseSource& noise_;
  SamplerSettings settings_;
  FlowSchedule schedule_;
  int64_t chunks_done_ = 0;
  int64_t window_ = 0;           // rolling: next window index
  std::deque<Active> active_;    // rolling: chunks in the window, oldest first
  std::map<int64_t, Clean> clean_;  // recent clean chunks for a prompt re-cache
  bool started_ = false;
  SamplerTiming timing_;
  std::vector<int64_t> recached_;
  CallObserver observer_;
  Tensor context_;                    // the prompt context in force [L, text_dim] (for saved states)
  Tensor cond_concat_;                // MG2: [F, Cc, H, W] or undefined
  PixelFrameActions pixel_actions_;   // MG2: rows so far, or undefined
};

}  // namespace wl
