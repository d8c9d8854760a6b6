// What a `worldloop play` session is asked to do: the world, its cache, the
// backend, how long to run and what to record. app/cli/play_options.h reads
// it from the command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wl::app {

constexpr int kMaxThreads = 256;  // --threads above this is a typo, not a machine

struct PlayOptions {
  std::string model;          // world package or published model folder; empty: the default world; "test-pattern": no model
  // A published model (runtime/model/published_model.h):
  std::string weights_key;    // the checkpoint's container to read (empty: model.json, then the loader's rule)
  std::vector<std::string> loras;  // FILE[:SCALE], in order
  std::optional<float> lora_alpha; // empty: model.json's, else the rank
  std::string text_device = "cpu";  // cpu|cuda: where umT5 runs
  std::string decoder;              // published model: vae|taehv|preview (empty: model.json, else the rule)
  std::string decoder_stream;       // its semantics: --vae-stream pipeline|demo, --taehv-stream carried|demo
  std::string decode_overlap = "auto";  // auto|on|off: the pixel decoder on its own thread (app/sources/decode_worker.h)
  std::optional<std::string> prompt;
  std::string policy;         // empty: the world's own
  int64_t budget_frames = 0;  // 0: the world's own
  int64_t max_memory_bytes = 0;  // --max-memory: the model's memory plan must fit it (0: the machine's)
  bool allow_external_paths = false;  // a package's files may lie outside its folder
  std::string backend = "auto";
  std::string precision = "auto";  // auto|f32|bf16: the DiT's matrix products (auto: bf16 where native)
  int threads = 0;            // CPU threads; 0: adaptive (or OMP_NUM_THREADS when set), see runtime/core/cpu_threads.h
  int64_t frames = -1;        // exit after N presented frames; -1: run until quit
  std::string screenshot;     // PNG of the last presented image, overlay included (unless hidden)
  bool overlay = true;        // false: start with the overlay hidden (--no-overlay; F1 shows it)
  std::string record;         // directory, .y4m or .mp4
  int record_scale = 1;       // --record-scale N: recordings N times the world's size
  std::string record_filter = "nearest";  // --record-filter nearest|linear
  std::string actions;        // action script (JSON), see action_script.h
  int64_t save_state_at = -1; // --save-state-at K FILE: the world's state after K frames
  std::string save_state_path;
  std::string load_state;     // --load FILE: continue a saved state (its seed, prompt and cache)
  std::string record_inputs;  // --record-inputs DIR: the input log for --replay (app/loop/input_log.h)
  std::string replay;         // --replay DIR: play a recorded input log again (headless)
  bool headless = false;
  uint64_t seed = 0;
  std::string config;         // empty: PlayConfig::default_path()
  bool vsync = true;
  bool vk_validation = false;  // --vk-validation: Vulkan's validation layer (always on in debug builds)
  bool help = false;
};

}  // namespace wl::app
