#include "app/loop/play_headless.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "app/loop/frame_path.h"
#include "app/loop/play_session.h"
#include "app/loop/progress_bar.h"
#include "app/loop/stop_signals.h"

namespace wl::app {

int run_headless(const PlayOptions& options, const PlayConfig& config, const InputLog* replay) {
  const Backend backend = play_backend(options);
  std::unique_ptr<FrameSource> source = make_frame_source(options, backend);
  FramePathInputs path;  // no window: the host path, said once
  path.backend = backend;
  path.source_on_device = source->decodes_on_device();
  std::fprintf(stderr, "worldloop play: %s\n", describe(choose_frame_path(path)).c_str());
  const PlayConfig effective = with_source_presets(config, *source);
  if (replay) {
    if (source->identity() != replay->world)
      throw std::runtime_error(options.replay + "/inputs.json: recorded in world " + replay->world +
                               ", this is " + source->identity() + " (" + replay->world_name +
                               " has changed since); a replay needs the world it was recorded in");
    // The thread count does not change a frame's bytes; the ISA and the precision do.
    const auto without_threads = [](const std::string& s) {
      const size_t at = s.rfind(", ");
      return at != std::string::npos && s.find("thread", at) != std::string::npos ? s.substr(0, at) : s;
    };
    const std::string compute = without_threads(source->compute_description());
    if (compute != without_threads(replay->compute))
      std::fprintf(stderr,
                   "worldloop play: recorded on %s, replaying on %s: the frames differ by rounding, "
                   "not byte for byte (docs/world-states.md gives the measured size)\n",
                   without_threads(replay->compute).c_str(), compute.c_str());
  }
  PlaySession session(std::move(source), options, effective, WorldLoopOptions::Pacing::Lockstep);
  if (replay && session.first_frame() != replay->first_frame)
    throw std::runtime_error(options.replay + "/inputs.json: starts at frame " + std::to_string(replay->first_frame) +
                             " but its state starts at " + std::to_string(session.first_frame()));
  // No keyboard: one sample per frame, empty or the replayed one (the action
  // script, if any, is applied by the model thread exactly as in a window),
  // and a replay's commands at the frames they were applied at.
  const auto now = Clock::now();
  // A replay of fewer frames than its log still gives the chunk it ends in
  // the recorded actions of that chunk's later frames: a chunk's frames see
  // each other, so its first ones depend on them.
  const int64_t samples = replay ? std::max(options.frames, replay->frames()) : options.frames;
  for (int64_t f = session.first_frame(); f < session.first_frame() + samples; ++f) {
    InputEvent e;
    e.kind = InputEvent::Kind::Actions;
    e.time = now;
    e.frame = f;
    if (replay) e.actions = replay->actions_at(f);
    session.inputs().push(e);
  }
  if (replay)
    for (const InputLog::Command& c : replay->commands()) {
      InputEvent e;
      e.kind = c.kind;
      e.time = now;
      e.frame = c.frame;
      e.text = c.text;
      e.seed = c.seed;
      e.budget_frames = c.budget_frames;
      session.inputs().push(e);
    }
  StopSignals signals;
  session.start();
  ProgressBar bar(options.frames, options.record.empty() ? "playing" : "recording");
  int64_t got = 0;
  StageTimes stage_sum;  // over the chunks shown, for the closing line
  int64_t last_chunk = -1;
  while (got < options.frames && !stop_signal()) {
    auto frame = session.mailbox().pop_next(Clock::now() + std::chrono::milliseconds(200));
    if (!frame) {
      if (session.loop().status().finished) break;
      continue;
    }
    if (frame->stats && frame->chunk != last_chunk) {
      last_chunk = frame->chunk;
      stage_sum.denoise_ms += frame->stats->stages.denoise_ms;
      stage_sum.cache_update_ms += frame->stats->stages.cache_update_ms;
      stage_sum.decode_ms += frame->stats->stages.decode_ms;
      stage_sum.decode_hidden_ms += frame->stats->stages.decode_hidden_ms;
    }
    ++got;
    bar.update(got);
  }
  bar.finish();
  const std::string desc = session.recording_description();
  const std::string err = session.finish();
  if (!err.empty()) {
    std::fprintf(stderr, "worldloop play: %s\n", err.c_str());
    return 1;
  }
  if (const int sig = stop_signal()) {
    std::fprintf(stderr, "worldloop play: stopped by %s after %lld of %lld frames%s%s\n",
                 stop_signal_name(sig), static_cast<long long>(got),
                 static_cast<long long>(options.frames), desc.empty() ? "" : "; recorded to ", options.record.c_str());
    return 128 + sig;
  }
  if (options.save_state_at >= 0 && session.loop().status().saved_state.empty()) {
    std::fprintf(stderr, "worldloop play: the run ended before frame %lld, so no state was saved to %s\n",
                 static_cast<long long>(options.save_state_at), options.save_state_path.c_str());
    return 1;
  }
  if (got < options.frames) {
    std::fprintf(stderr, "worldloop play: the world stopped after %lld of %lld frames\n",
                 static_cast<long long>(got), static_cast<long long>(options.frames));
    return 1;
  }
  std::fprintf(stderr, "worldloop play: %lld frames%s%s\n", static_cast<long long>(got),
               desc.empty() ? "" : " recorded to ", options.record.c_str());
  if (got > 0 && stage_sum.total_ms() > 0) {
    const double n = static_cast<double>(got);
    std::fprintf(stderr,
                 "worldloop play: per frame, mean: denoise %.2f ms, cache %.2f ms, decode %.2f ms (%.2f ms of it "
                 "hidden beside denoising), %.2f ms in all\n",
                 stage_sum.denoise_ms / n, stage_sum.cache_update_ms / n, stage_sum.decode_ms / n,
                 stage_sum.decode_hidden_ms / n, stage_sum.total_ms() / n);
  }
  if (!session.loop().status().saved_state.empty())
    std::fprintf(stderr, "worldloop play: %s\n", session.loop().status().notice.c_str());
  return 0;
}

}  // namespace wl::app
