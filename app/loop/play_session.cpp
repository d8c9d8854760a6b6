#include "app/loop/play_session.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "app/loop/dit_backend.h"
#include "app/loop/frame_path.h"
#include "app/sources/oracle_source.h"
#include "app/sources/test_pattern_source.h"
#include "app/sources/world_source.h"
#include "runtime/core/ops.h"

namespace wl::app {

Backend play_backend(const PlayOptions& options) { return parse_backend_flag(options.backend); }

size_t mailbox_capacity(int chunk_frames) { return static_cast<size_t>(std::max(2, chunk_frames) * 3); }

std::unique_ptr<FrameSource> make_frame_source(const PlayOptions& options, Backend backend) {
  if (options.model == "test-pattern") return std::make_unique<TestPatternSource>();
  if (options.model == "oracle") return std::make_unique<OracleSource>();
  WorldSourceOptions w;
  w.dit.backend = backend;
  w.dit.precision = ops::parse_precision(options.precision);
  w.dit.max_memory_bytes = options.max_memory_bytes;
  w.threads = options.threads;
  w.adaptive_threads = options.threads == 0 && std::getenv("OMP_NUM_THREADS") == nullptr;
  w.dir = options.model.empty() ? default_world_dir() : options.model;
  if (options.model.empty() && !std::filesystem::exists(std::filesystem::path(w.dir) / "world.json")) {
    std::fprintf(stderr, "worldloop play: no default world in %s yet; playing the built-in test pattern\n",
                 w.dir.c_str());
    return std::make_unique<TestPatternSource>();
  }
  w.policy = options.policy;
  w.budget_frames = options.budget_frames;
  w.allow_external_paths = options.allow_external_paths;
  w.published.weights_key = options.weights_key;
  for (const std::string& spec : options.loras) {
    const LoraInput in = parse_lora_argument(spec);
    w.published.loras.push_back(LoraFile{in.path, static_cast<float>(in.scale), options.lora_alpha});
  }
  w.published.text_backend = options.text_device == "cuda" ? Backend::CUDA : Backend::CPU;
  w.published.decoder = options.decoder;
  w.published.decoder_stream = options.decoder_stream;
  // Decoding beside denoising: a sure gain when the DiT runs on the GPU and the
  // CPU is idle meanwhile; on the CPU the decoder's thread is a core the DiT gives up.
  w.decode_overlap = options.decode_overlap == "on" || (options.decode_overlap == "auto" && backend == Backend::CUDA);
  // The world starts as its package says (world.json "start": its own clip, noise or an image).
  auto source = std::make_unique<WorldSource>(w);
  std::fprintf(stderr, "worldloop play: %s on %s\n", w.dir.c_str(), source->compute_description().c_str());
  return source;
}

PlayConfig with_source_presets(const PlayConfig& config, const FrameSource& source) {
  PlayConfig out = config;
  const std::vector<std::string> presets = source.presets();
  if (!presets.empty()) out.presets = presets;
  // The config's default_prompt wins when it names one (it used to be
  // overwritten here); empty means the world's first preset.
  if (out.default_prompt.empty() && !out.presets.empty()) out.default_prompt = out.presets.front();
  return out;
}

PlaySession::PlaySession(std::unique_ptr<FrameSource> source, const PlayOptions& options, const PlayConfig& config,
                         WorldLoopOptions::Pacing pacing)
    : source_(std::move(source)),
      script_(options.actions.empty() ? ActionScript() : ActionScript::load(options.actions)),
      prompt_(options.prompt.value_or(config.default_prompt)),
      mailbox_(pacing == WorldLoopOptions::Pacing::Lockstep ? FrameMailbox::Mode::Lossless
                                                            : FrameMailbox::Mode::Newest,
               mailbox_capacity(source_->chunk_frames())) {
  WorldLoopOptions lo;
  lo.pacing = pacing;
  lo.seed = options.seed;
  lo.prompt = prompt_;
  lo.script = script_.empty() ? nullptr : &script_;
  lo.max_frames = options.headless ? options.frames : -1;
  lo.save_state_at = options.save_state_at;
  lo.save_state_path = options.save_state_path;
  if (!options.load_state.empty()) {
    lo.load_state = std::make_shared<const StateReader>(StateReader::open(options.load_state));
    first_frame_ = WorldLoop::first_frame_of(*lo.load_state);
  }
  if (!options.record_inputs.empty()) {
    input_log_ = std::make_unique<InputLog>();
    input_log_dir_ = options.record_inputs;
    input_log_->options = options;
    input_log_->options.prompt = prompt_;
    input_log_->world = source_->identity();
    input_log_->world_name = options.model.empty() ? "the default world" : options.model;
    input_log_->compute = source_->compute_description();
    input_log_->first_frame = first_frame_;
    input_log_->write(input_log_dir_);  // fails now, not at the end, when DIR cannot be written
    lo.input_log = input_log_.get();
  }
  loop_ = std::make_unique<WorldLoop>(*source_, inputs_, mailbox_, lo);
  loop_->set_chunk_hook([this](const std::vector<Frame>& frames) {
    std::shared_ptr<Recorder> rec;
    {
      std::lock_guard<std::mutex> lock(rec_mu_);
      rec = recorder_;
    }
    if (!rec) return;
    for (const Frame& f : frames) {
      if (!f.rgb) continue;  // device path, chunk made before the recording asked for bytes
      Frame bytes_only = f;
      bytes_only.device.reset();  // a queued recording must not hold the presenter's ring slots
      rec->push(bytes_only);
    }
  });
  record_scale_ = options.record_scale;
  record_filter_ = options.record_filter == "linear" ? RecordFilter::Linear : RecordFilter::Nearest;
  if (!options.record.empty()) start_recording(options.record);
}

PlaySession::~PlaySession() { finish(); }

void PlaySession::start() { loop_->start(); }

std::string PlaySession::finish() {
  loop_->stop();
  std::string err = stop_recording();
  if (input_log_) {
    try {
      input_log_->write(input_log_dir_);
    } catch (const std::exception& e) {
      if (err.empty()) err = e.what();
    }
  }
  const std::string loop_err = loop_->status().error;
  return loop_err.empty() ? err : loop_err;
}

void PlaySession::start_recording(const std::string& path) {
  auto rec = std::make_shared<Recorder>(
      make_scaled_writer(open_frame_writer(path, source_->nominal_fps()), record_scale_, record_filter_));
  {
    std::lock_guard<std::mutex> lock(rec_mu_);
    recorder_ = std::move(rec);
  }
  loop_->set_need_rgb(true);  // the device path then makes bytes as well
}

std::string PlaySession::stop_recording() {
  std::shared_ptr<Recorder> rec;
  {
    std::lock_guard<std::mutex> lock(rec_mu_);
    rec.swap(recorder_);
  }
  if (!rec) return {};
  loop_->set_need_rgb(false);
  std::string err = rec->finish();
  std::lock_guard<std::mutex> lock(rec_mu_);
  record_error_ = err;
  return err;
}

bool PlaySession::recording() const {
  std::lock_guard<std::mutex> lock(rec_mu_);
  return recorder_ != nullptr;
}

std::string PlaySession::recording_description() const {
  std::lock_guard<std::mutex> lock(rec_mu_);
  return recorder_ ? recorder_->describe() : std::string();
}

}  // namespace wl::app
