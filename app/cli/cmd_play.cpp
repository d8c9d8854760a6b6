// `worldloop play`: parse the command line, load the config, then run either
// the window (Vulkan presenter + overlay) or the headless recorder.
#include <cstdio>

#include "app/cli/commands.h"
#include "app/loop/play_config.h"
#include "app/loop/play_headless.h"
#include "app/cli/play_options.h"

#ifdef WORLDLOOP_HAS_WINDOW
#include "app/loop/play_window.h"
#endif

namespace wl::app {

int cmd_play(int argc, char** argv) {
  const PlayOptions options = parse_play_options(argc, argv);
  if (options.help) {
    std::fputs(play_usage(), stdout);
    return 0;
  }
  const PlayConfig config =
      PlayConfig::load_or_create(options.config.empty() ? PlayConfig::default_path() : options.config);
  if (options.headless) return run_headless(options, config);
#ifdef WORLDLOOP_HAS_WINDOW
  return run_window(options, config);
#else
  std::fprintf(stderr, "worldloop play: this build has no window (WORLDLOOP_VULKAN=OFF); use --headless\n");
  return 1;
#endif
}

}  // namespace wl::app
