#include "app/loop/play_headless.h"

#include <csignal>
#include <cstdio>

#include "app/loop/frame_path.h"
#include "app/loop/play_session.h"
#include "app/loop/progress_bar.h"

namespace wl::app {
namespace {

// SIGINT / SIGTERM end the run between frames, so that the recording is
// closed with whole frames and the summary is printed; a second signal kills
// as usual (the handler is reset after the first).
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  std::signal(sig, SIG_DFL);
}

struct StopSignals {
  void (*old_int)(int), (*old_term)(int);
  StopSignals() : old_int(std::signal(SIGINT, on_stop_signal)), old_term(std::signal(SIGTERM, on_stop_signal)) {
    g_stop_signal = 0;
  }
  ~StopSignals() {
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
  }
};

}  // namespace

int run_headless(const PlayOptions& options, const PlayConfig& config) {
  const Backend backend = play_backend(options);
  std::unique_ptr<FrameSource> source = make_frame_source(options, backend);
  FramePathInputs path;  // no window: the host path, said once
  path.backend = backend;
  path.source_on_device = source->decodes_on_device();
  std::fprintf(stderr, "worldloop play: %s\n", describe(choose_frame_path(path)).c_str());
  const PlayConfig effective = with_source_presets(config, *source);
  PlaySession session(std::move(source), options, effective, WorldLoopOptions::Pacing::Lockstep);
  // No keyboard: one empty sample per frame (the action script, if any, is
  // applied by the model thread exactly as in a window).
  const auto now = Clock::now();
  for (int64_t f = session.first_frame(); f < session.first_frame() + options.frames; ++f) {
    InputEvent e;
    e.kind = InputEvent::Kind::Actions;
    e.time = now;
    e.frame = f;
    session.inputs().push(e);
  }
  StopSignals signals;
  session.start();
  ProgressBar bar(options.frames, options.record.empty() ? "playing" : "recording");
  int64_t got = 0;
  while (got < options.frames && !g_stop_signal) {
    auto frame = session.mailbox().pop_next(Clock::now() + std::chrono::milliseconds(200));
    if (!frame) {
      if (session.loop().status().finished) break;
      continue;
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
  if (g_stop_signal) {
    std::fprintf(stderr, "worldloop play: stopped by %s after %lld of %lld frames%s%s\n",
                 g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(got),
                 static_cast<long long>(options.frames), desc.empty() ? "" : "; recorded to ", options.record.c_str());
    return 128 + g_stop_signal;
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
  if (!session.loop().status().saved_state.empty())
    std::fprintf(stderr, "worldloop play: %s\n", session.loop().status().notice.c_str());
  return 0;
}

}  // namespace wl::app
