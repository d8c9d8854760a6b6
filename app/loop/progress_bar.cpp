#include "app/loop/progress_bar.h"

#include <algorithm>
#include <cstdio>

#include <unistd.h>

namespace wl::app {

ProgressBar::ProgressBar(int64_t total, std::string label)
    : total_(std::max<int64_t>(1, total)), label_(std::move(label)), enabled_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(int64_t done) {
  if (!enabled_) return;
  const int permille = static_cast<int>(std::min<int64_t>(1000, done * 1000 / total_));
  if (permille == last_permille_) return;
  last_permille_ = permille;
  constexpr int kWidth = 30;
  const int filled = permille * kWidth / 1000;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fps = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  std::fprintf(stderr, "\r%s [%.*s%*s] %lld/%lld  %.1f fps", label_.c_str(), filled,
               "##############################", kWidth - filled, "", static_cast<long long>(done),
               static_cast<long long>(total_), fps);
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (enabled_ && last_permille_ >= 0) std::fputc('\n', stderr);
}

}  // namespace wl::app
