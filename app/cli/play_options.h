// Command line of `worldloop play`: flags -> PlayOptions (app/loop/play_options.h).
#pragma once

#include "app/loop/play_options.h"

namespace wl::app {

// Throws std::invalid_argument with a one-line message on bad input.
PlayOptions parse_play_options(int argc, char** argv);
const char* play_usage();

}  // namespace wl::app
