// Matrix-Game 2.0's frame bookkeeping (specs/text_action_checkpoints.md §2.3-§2.5):
// which pixel-frame action rows a latent frame conditions on, how many rows a
// call is handed, and which latent frames a call attends to. Pure integer
// rules, shared by the action module, the app's input sampler and the tests.
#pragma once
#include <cstdint>
#include <vector>

namespace wl::mg2 {

// The VAE's time compression and the action window (the config's
// `vae_time_compression_ratio` and `windows_size`): a latent frame sees
// ratio * windows pixel-frame actions.
struct ActionWindow {
  int64_t time_ratio = 4;  // pixel frames per latent frame after latent 0
  int64_t windows = 3;     // latent frames of history the actions span
  int64_t rows() const { return time_ratio * windows; }  // 12 for MG2
};

// p_j(F) = max(0, ratio*F - rows + j), j = 0..rows-1: the pixel frames that
// end just before pixel frame ratio*F, clamped to frame 0.
int64_t action_row(const ActionWindow& w, int64_t latent_frame, int64_t j);
std::vector<int64_t> action_rows(const ActionWindow& w, int64_t latent_frame);

// Pixel frames of a video of `latent_frames` latent frames: 1 + ratio*(F-1).
int64_t pixel_frames_of(const ActionWindow& w, int64_t latent_frames);
// Rows the call for latent frames [start, start+frames) is handed:
// 1 + ratio*(start+frames-1) (every pixel frame up to the chunk's last).
int64_t rows_for_call(const ActionWindow& w, int64_t start, int64_t frames);

// The latent frames a call for [start, start+frames) attends to with a
// window of `window` frames (`local_attn_size`): [max(0, start+frames-window), start+frames).
struct FrameRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
  bool contains(int64_t f) const { return f >= begin && f < end; }
};
FrameRange attended_frames(int64_t start, int64_t frames, int64_t window);

}  // namespace wl::mg2
