// specs/text_action_checkpoints.md §2.3 (action windows), §2.4 (pixel vs
// latent frames), §2.5 (the attention window of every cache).
#include "runtime/model/mg2_windows.h"

#include <algorithm>

namespace wl::mg2 {

int64_t action_row(const ActionWindow& w, int64_t latent_frame, int64_t j) {
  return std::max<int64_t>(0, w.time_ratio * latent_frame - w.rows() + j);
}

std::vector<int64_t> action_rows(const ActionWindow& w, int64_t latent_frame) {
  std::vector<int64_t> rows(static_cast<size_t>(w.rows()));
  for (int64_t j = 0; j < w.rows(); ++j) rows[static_cast<size_t>(j)] = action_row(w, latent_frame, j);
  return rows;
}

int64_t pixel_frames_of(const ActionWindow& w, int64_t latent_frames) {
  return latent_frames <= 0 ? 0 : 1 + w.time_ratio * (latent_frames - 1);
}

int64_t rows_for_call(const ActionWindow& w, int64_t start, int64_t frames) {
  return pixel_frames_of(w, start + frames);
}

FrameRange attended_frames(int64_t start, int64_t frames, int64_t window) {
  const int64_t end = start + frames;
  return FrameRange{std::max<int64_t>(0, end - window), end};
}

}  // namespace wl::mg2
