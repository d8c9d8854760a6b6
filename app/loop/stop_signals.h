// SIGINT / SIGTERM as a request to stop: a front end without a window polls
// stop_signal() between frames, so that recordings are closed with whole
// frames and the summary is printed. A second signal kills as usual (the
// handler is reset after the first). Restores the old handlers when destroyed.
#pragma once

#include <csignal>

namespace wl::app {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

// The signal that asked to stop (SIGINT or SIGTERM), 0 before any.
int stop_signal();
const char* stop_signal_name(int sig);

}  // namespace wl::app
