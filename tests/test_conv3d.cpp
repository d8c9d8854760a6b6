// ops::conv3d_frames (oneDNN's 3D convolution over frame-major sequences, the
// Wan VAE's causal convolutions) against a float64 reference built from the
// 2D one: output frame t = bias + sum over dt of conv2d(frame t + dt, tap dt).
// Random inputs of odd shapes, kernels 3x3x3 (padding 1) and 3x1x1 (none).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "tests/support/reference_ops.h"

namespace wl {
namespace {

// Tap dt of w [O, I, kt, kh, kw] as [O, I, kh, kw].
Tensor tap(const Tensor& w, int64_t dt) {
  const int64_t O = w.dim(0), I = w.dim(1), kt = w.dim(2), kh = w.dim(3), kw = w.dim(4);
  const std::vector<float> v = w.to_floats();
  std::vector<float> out(static_cast<size_t>(O * I * kh * kw));
  for (int64_t oi = 0; oi < O * I; ++oi)
    for (int64_t k = 0; k < kh * kw; ++k) out[oi * kh * kw + k] = v[(oi * kt + dt) * kh * kw + k];
  return Tensor::from_floats(out, {O, I, kh, kw});
}

Tensor frame(const Tensor& x, int64_t t) {
  const int64_t per = x.numel() / x.dim(0);
  const std::vector<float> v = x.to_floats();
  return Tensor::from_floats(std::vector<float>(v.begin() + t * per, v.begin() + (t + 1) * per),
                             {1, x.dim(1), x.dim(2), x.dim(3)});
}

TEST(Conv3dFrames, MatchesTheSumOfTimeTapsOnOddShapes) {
  std::mt19937 g(11);
  struct Case {
    int64_t t, c, h, w, o, k;
    bool bias;
  };
  for (const Case& c : std::vector<Case>{{3, 5, 7, 9, 6, 3, true},
                                         {5, 3, 4, 11, 2, 3, false},
                                         {4, 16, 6, 5, 17, 3, true},
                                         {6, 7, 3, 3, 7, 1, true},
                                         {3, 1, 1, 1, 3, 3, true},
                                         {9, 24, 9, 13, 8, 3, true}}) {
    const int pad = c.k == 3 ? 1 : 0;
    const Tensor x = ref::uniform({c.t, c.c, c.h, c.w}, g, -1.0f, 1.0f);  // [T, C, H, W]
    const Tensor w = ref::uniform({c.o, c.c, 3, c.k, c.k}, g, -0.5f, 0.5f);
    const Tensor b = c.bias ? ref::uniform({c.o}, g) : Tensor();
    const int64_t to = c.t - 2;
    Tensor y = Tensor::empty({to, c.o, c.h, c.w});
    ops::conv3d_frames(x, ops::prepare_conv3d(w, b, pad), y);
    std::vector<double> want(static_cast<size_t>(to * c.o * c.h * c.w), 0.0);
    const size_t per = static_cast<size_t>(c.o * c.h * c.w);
    for (int64_t t = 0; t < to; ++t)
      for (int64_t dt = 0; dt < 3; ++dt) {
        const std::vector<double> part = ref::conv2d(frame(x, t + dt), tap(w, dt), dt == 0 ? b : Tensor(), 1, pad);
        for (size_t i = 0; i < per; ++i) want[t * per + i] += part[i];
      }
    const std::string shape = std::to_string(c.t) + "x" + std::to_string(c.c) + "x" + std::to_string(c.h) + "x" +
                              std::to_string(c.w) + " -> " + std::to_string(c.o) + ", k " + std::to_string(c.k);
    EXPECT_LE(ref::normalised_error(y, want), 1e-5) << shape;
    // Cached primitives: a second call on the same shapes gives the same bytes.
    Tensor again = Tensor::empty(y.shape());
    ops::conv3d_frames(x, ops::prepare_conv3d(w, b, pad), again);
    EXPECT_EQ(again.to_floats(), y.to_floats()) << shape;
  }
}

TEST(Conv3dFrames, BadShapesAreNamedErrors) {
  const ops::ConvWeight w = ops::prepare_conv3d(Tensor::zeros({4, 3, 3, 3, 3}), Tensor(), 1);
  Tensor y = Tensor::empty({1, 4, 8, 8});
  EXPECT_THROW(ops::conv3d_frames(Tensor::zeros({3, 2, 8, 8}), w, y), Error);  // channels
  EXPECT_THROW(ops::conv3d_frames(Tensor::zeros({2, 3, 8, 8}), w, y), Error);  // fewer frames than the kernel
  EXPECT_THROW(ops::conv3d_frames(Tensor::zeros({4, 3, 8, 8}), w, y), Error);  // y should have 2 frames
  EXPECT_THROW(ops::prepare_conv3d(Tensor::zeros({4, 3, 3, 3}), Tensor(), 1), Error);  // not 5D
  EXPECT_THROW(ops::prepare_conv3d(Tensor::zeros({4, 3, 3, 3, 3}), Tensor::zeros({5}), 1), Error);
  const ops::ConvWeight w2 = ops::prepare_conv2d(Tensor::zeros({4, 3, 3, 3}), Tensor(), 1, 1);
  try {
    ops::conv3d_frames(Tensor::zeros({3, 3, 8, 8}), w2, y);
    ADD_FAILURE() << "a 2D weight was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv3d_frames: "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wl
