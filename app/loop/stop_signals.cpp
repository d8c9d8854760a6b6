#include "app/loop/stop_signals.h"

namespace wl::app {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
void (*g_old_int)(int) = SIG_DFL;
void (*g_old_term)(int) = SIG_DFL;

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  std::signal(sig, SIG_DFL);
}

}  // namespace

StopSignals::StopSignals() {
  g_stop_signal = 0;
  g_old_int = std::signal(SIGINT, on_stop_signal);
  g_old_term = std::signal(SIGTERM, on_stop_signal);
}

StopSignals::~StopSignals() {
  std::signal(SIGINT, g_old_int);
  std::signal(SIGTERM, g_old_term);
}

int stop_signal() { return g_stop_signal; }

const char* stop_signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

}  // namespace wl::app
