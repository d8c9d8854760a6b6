// The Wan VAE decoder's causal 3x3x3 convolution two ways on the CPU (issue
// 22: "sums of 2D convolutions over time taps, or oneDNN's 3D convolution,
// whichever measures faster"). Prints one JSON object.
//
// One streamed output frame from 3 input frames (2 cached + 1 new), at the
// decoder's layer shapes for 832x480 (specs/decoders.md: 384 channels at
// 1/8, 384 at 1/4, 192 at 1/2, 96 at full size), in f32:
//   taps_2d:  what runtime/model/wan_vae_blocks.cpp runs: ops::conv2d of each
//             time tap's 3x3 weight over its frame (cached primitives,
//             channel-blocked layouts inside, NCHW at the boundary), summed;
//   onednn_3d: what it runs now, ops::conv3d_frames: one oneDNN 3D
//             convolution over the frame-major [3, C, H, W] sequence (a
//             strided [1, C, 3, H, W] view), weight reordered once.
// Both outputs are compared (max relative difference). Median, min and max
// ms over --repeats after one warm-up call, and GFLOP/s (2 per multiply-add).
//
//   build/bench/bench_conv3d [--repeats 3] [--scale 1]   (--scale 2: half the height and width)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli/args.h"
#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "runtime/cpu/cpu_isa.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Shape3d {
  const char* layer;
  int64_t channels, height, width;
};

std::vector<float> random_floats(size_t n, float scale, std::mt19937& g) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

nlohmann::json stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {{"median", v[v.size() / 2]}, {"min", v.front()}, {"max", v.back()}, {"n", v.size()}};
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// The 2D way: y = sum over dt of conv2d(frame dt, tap dt), the bias on tap 0.
struct Taps2d {
  std::vector<wl::ops::ConvWeight> taps;
  Taps2d(const std::vector<float>& w5, const std::vector<float>& bias, int64_t o, int64_t c) {
    for (int64_t t = 0; t < 3; ++t) {
      std::vector<float> tap(static_cast<size_t>(o * c * 9));
      for (int64_t oc = 0; oc < o * c; ++oc)
        for (int64_t k = 0; k < 9; ++k) tap[oc * 9 + k] = w5[(oc * 3 + t) * 9 + k];  // [O, C, kt, 3, 3] -> tap t
      taps.push_back(wl::ops::prepare_conv2d(wl::Tensor::from_floats(tap, {o, c, 3, 3}),
                                             t == 0 ? wl::Tensor::from_floats(bias, {o}) : wl::Tensor(), 1, 1));
    }
  }
  void run(const std::vector<wl::Tensor>& frames, wl::Tensor& y) const {  // frames: 3 x [1, C, H, W]
    wl::ops::conv2d(frames[0], taps[0], y);
    wl::Tensor part = wl::Tensor::empty(y.shape());
    for (size_t t = 1; t < 3; ++t) {
      wl::ops::conv2d(frames[t], taps[t], part);
      wl::ops::add(y, part);
    }
  }
};

nlohmann::json measure(const Shape3d& sh, int scale, int repeats, std::mt19937& g) {
  const int64_t c = sh.channels, o = sh.channels, h = sh.height / scale, w = sh.width / scale;
  const std::vector<float> w5 = random_floats(static_cast<size_t>(o * c * 27), 1.0f / std::sqrt(27.0f * c), g);
  std::vector<float> bias = random_floats(static_cast<size_t>(o), 0.01f, g);
  std::vector<wl::Tensor> frames;  // 3 x [1, C, H, W]
  for (int64_t t = 0; t < 3; ++t)
    frames.push_back(wl::Tensor::from_floats(random_floats(static_cast<size_t>(c * h * w), 1.0f, g), {1, c, h, w}));
  const double gflop = 2.0 * o * c * 27 * h * w / 1e9;
  Taps2d taps(w5, bias, o, c);
  const wl::ops::ConvWeight w3 =
      wl::ops::prepare_conv3d(wl::Tensor::from_floats(w5, {o, c, 3, 3, 3}), wl::Tensor::from_floats(bias, {o}), 1);
  wl::Tensor seq = frames[0];  // [3, C, H, W], frame-major as the decoder keeps it
  {
    std::vector<float> all;
    for (const wl::Tensor& f : frames) {
      const std::vector<float> v = f.to_floats();
      all.insert(all.end(), v.begin(), v.end());
    }
    seq = wl::Tensor::from_floats(all, {3, c, h, w});
  }
  wl::Tensor y2 = wl::Tensor::empty({1, o, h, w}), y3t = wl::Tensor::empty({1, o, h, w});
  taps.run(frames, y2);  // warm-up: primitives, packing
  wl::ops::conv3d_frames(seq, w3, y3t);
  std::vector<double> t2, t3;
  for (int r = 0; r < repeats; ++r) {  // interleaved, so load changes hit both
    auto t0 = Clock::now();
    taps.run(frames, y2);
    t2.push_back(ms_since(t0));
    t0 = Clock::now();
    wl::ops::conv3d_frames(seq, w3, y3t);
    t3.push_back(ms_since(t0));
  }
  const float* a = y2.f32();
  const std::vector<float> y3 = y3t.to_floats();
  double worst = 0, mag = 0;
  for (size_t i = 0; i < y3.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - y3[i]));
    mag = std::max(mag, std::fabs(static_cast<double>(y3[i])));
  }
  const nlohmann::json s2 = stats(t2), s3 = stats(t3);
  const double m2 = s2["median"], m3 = s3["median"];
  return {{"layer", sh.layer},
          {"channels", c},
          {"height", h},
          {"width", w},
          {"gflop", gflop},
          {"taps_2d_ms", s2},
          {"onednn_3d_ms", s3},
          {"taps_2d_gflop_per_s", gflop / (m2 / 1e3)},
          {"onednn_3d_gflop_per_s", gflop / (m3 / 1e3)},
          {"faster", m2 <= m3 ? "taps_2d" : "onednn_3d"},
          {"speedup_of_3d", m2 / m3},
          {"max_abs_difference_over_max", mag > 0 ? worst / mag : 0.0}};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const wl::app::Args args(argc - 1, argv + 1, {"repeats", "scale"});
    const int repeats = static_cast<int>(std::max(1LL, args.get_int("repeats", 3)));
    const int scale = static_cast<int>(std::max(1LL, args.get_int("scale", 1)));
    const std::vector<Shape3d> shapes = {{"middle and up 0 (1/8)", 384, 60, 104},
                                         {"up 1 (1/4)", 384, 120, 208},
                                         {"up 2 (1/2)", 192, 240, 416},
                                         {"up 3 (full)", 96, 480, 832}};
    std::mt19937 g(7);
    nlohmann::json rows = nlohmann::json::array();
    for (const Shape3d& s : shapes) rows.push_back(measure(s, scale, repeats, g));
    nlohmann::json out = {{"bench", "conv3d"},
                          {"timed", "one causal 3x3x3 convolution, 3 input frames -> 1 output frame, f32, "
                                    "boundary layout reorders included"},
                          {"onednn_isa", wl::cpu::onednn_isa_name()},
                          {"repeats", repeats},
                          {"scale", scale},
                          {"rows", rows}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv3d: %s\n", e.what());
    return 1;
  }
}
