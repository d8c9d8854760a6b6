// `worldloop play`: parse the command line, load the config, then run either
// the window (Vulkan presenter + overlay) or the headless recorder.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "app/cli/commands.h"
#include "app/loop/play_config.h"
#include "app/loop/play_headless.h"
#include "app/cli/play_options.h"

#ifdef WORLDLOOP_HAS_WINDOW
#include "app/loop/play_window.h"
#endif

namespace wl::app {

int cmd_play(int argc, char** argv) {
  PlayOptions options = parse_play_options(argc, argv);
  if (options.help) {
    std::fputs(play_usage(), stdout);
    return 0;
  }
  const PlayConfig config =
      PlayConfig::load_or_create(options.config.empty() ? PlayConfig::default_path() : options.config);
  if (!options.replay.empty()) {
    // The log fixes what decides the frames; the run's own flags add recording.
    const std::unique_ptr<InputLog> owned = InputLog::read(options.replay);
    const InputLog& log = *owned;
    options.model = log.options.model;
    options.seed = log.options.seed;
    options.prompt = log.options.prompt;
    options.policy = log.options.policy;
    options.budget_frames = log.options.budget_frames;
    options.precision = log.options.precision;
    options.load_state = log.options.load_state;
    if (options.frames < 0) options.frames = log.frames();
    if (options.frames > log.frames())
      throw std::invalid_argument("--frames " + std::to_string(options.frames) + ": " + options.replay +
                                  " holds " + std::to_string(log.frames()) + " frames");
    if (options.frames <= 0) throw std::invalid_argument(options.replay + ": the input log holds no frames");
    return run_headless(options, config, &log);
  }
  if (options.headless) return run_headless(options, config);
#ifdef WORLDLOOP_HAS_WINDOW
  return run_window(options, config);
#else
  std::fprintf(stderr, "worldloop play: this build has no window (WORLDLOOP_VULKAN=OFF); use --headless\n");
  return 1;
#endif
}

}  // namespace wl::app
