// `worldloop play --headless`: no window, no Vulkan. Runs the session in
// lockstep (every frame made, in order, from the same inputs a window would
// see for the same seed and action script) and records it.
#pragma once

#include "app/loop/input_log.h"
#include "app/loop/play_config.h"
#include "app/loop/play_options.h"

namespace wl::app {

// `replay`: an input log (--replay) whose actions and commands feed the run
// instead of empty samples; options already carry its world and seed.
int run_headless(const PlayOptions& options, const PlayConfig& config, const InputLog* replay = nullptr);

}  // namespace wl::app
