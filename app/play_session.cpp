#include "app/play_session.h"

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "app/oracle_primer.h"
#include "app/oracle_source.h"
#include "app/test_pattern_source.h"
#include "app/world_source.h"

namespace wl::app {

std::unique_ptr<FrameSource> make_frame_source(const PlayOptions& options) {
  if (options.model == "test-pattern") return std::make_unique<TestPatternSource>();
  if (options.model == "oracle") return std::make_unique<OracleSource>();
  if (options.backend == "cuda")
    throw std::runtime_error("--backend cuda: the CUDA backend is not built into this binary yet; use --backend cpu");
  WorldSourceOptions w;
  w.dir = options.model.empty() ? default_world_dir() : options.model;
  if (options.model.empty() && !std::filesystem::exists(std::filesystem::path(w.dir) / "world.json")) {
    std::fprintf(stderr, "worldloop play: no default world in %s yet; playing the built-in test pattern\n",
                 w.dir.c_str());
    return std::make_unique<TestPatternSource>();
  }
  w.policy = options.policy;
  w.budget_frames = options.budget_frames;
  // The world starts from a few oracle frames of the chosen theme (when its package has an encoder).
  const WorldDescription desc = WorldDescription::read(w.dir);
  w.primer = [width = desc.image_width, height = desc.image_height](uint64_t seed, const std::string& prompt,
                                                                     int frames, std::vector<FrameActions>& actions) {
    return oracle_priming_frames(width, height, seed, prompt, frames, actions);
  };
  return std::make_unique<WorldSource>(w);
}

PlayConfig with_source_presets(const PlayConfig& config, const FrameSource& source) {
  PlayConfig out = config;
  const std::vector<std::string> presets = source.presets();
  if (!presets.empty()) {
    out.presets = presets;
    out.default_prompt = presets.front();
  }
  return out;
}

PlaySession::PlaySession(std::unique_ptr<FrameSource> source, const PlayOptions& options, const PlayConfig& config,
                         WorldLoopOptions::Pacing pacing)
    : source_(std::move(source)),
      script_(options.actions.empty() ? ActionScript() : ActionScript::load(options.actions)),
      prompt_(options.prompt.value_or(config.default_prompt)),
      mailbox_(pacing == WorldLoopOptions::Pacing::Lockstep ? FrameMailbox::Mode::Lossless
                                                            : FrameMailbox::Mode::Newest,
               static_cast<size_t>(std::max(2, source_->chunk_frames()) * 3)) {
  WorldLoopOptions lo;
  lo.pacing = pacing;
  lo.seed = options.seed;
  lo.prompt = prompt_;
  lo.script = script_.empty() ? nullptr : &script_;
  lo.max_frames = options.headless ? options.frames : -1;
  loop_ = std::make_unique<WorldLoop>(*source_, inputs_, mailbox_, lo);
  loop_->set_chunk_hook([this](const std::vector<Frame>& frames) {
    std::shared_ptr<Recorder> rec;
    {
      std::lock_guard<std::mutex> lock(rec_mu_);
      rec = recorder_;
    }
    if (rec)
      for (const Frame& f : frames) rec->push(f);
  });
  if (!options.record.empty()) start_recording(options.record);
}

PlaySession::~PlaySession() { finish(); }

void PlaySession::start() { loop_->start(); }

std::string PlaySession::finish() {
  loop_->stop();
  std::string err = stop_recording();
  const std::string loop_err = loop_->status().error;
  return loop_err.empty() ? err : loop_err;
}

void PlaySession::start_recording(const std::string& path) {
  auto rec = std::make_shared<Recorder>(open_frame_writer(path, source_->nominal_fps()));
  std::lock_guard<std::mutex> lock(rec_mu_);
  recorder_ = std::move(rec);
}

std::string PlaySession::stop_recording() {
  std::shared_ptr<Recorder> rec;
  {
    std::lock_guard<std::mutex> lock(rec_mu_);
    rec.swap(recorder_);
  }
  if (!rec) return {};
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
