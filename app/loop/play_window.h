// `worldloop play` in a window: SDL2 + Vulkan presenter + ImGui overlay on the
// main thread, the world on the model thread (see world_loop.h).
#pragma once

#include "app/loop/play_config.h"
#include "app/loop/play_options.h"

namespace wl::app {

int run_window(const PlayOptions& options, const PlayConfig& config);

}  // namespace wl::app
