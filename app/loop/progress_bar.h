// A one-line progress bar on stderr, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace wl::app {

class ProgressBar {
 public:
  ProgressBar(int64_t total, std::string label);
  void update(int64_t done);
  void finish();

 private:
  int64_t total_;
  std::string label_;
  bool enabled_;
  int last_permille_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace wl::app
