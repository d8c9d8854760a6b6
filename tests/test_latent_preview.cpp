// The latent preview (runtime/model/latent_preview.h) against its definition,
// computed here in double on random latents of odd sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/core/error.h"
#include "runtime/model/latent_preview.h"

namespace wl {
namespace {

TEST(LatentPreview, IsTheFixedLinearMapOfEachLatentPixel) {
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.f, 1.5f);
  const LatentPreview preview;
  for (auto [f, h, w] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {3, 5, 7}, {2, 13, 9}}) {
    Tensor z = Tensor::empty({f, 16, h, w});  // [F, 16, h, w]
    for (int64_t i = 0; i < z.numel(); ++i) z.f32()[i] = n(rng);
    const Tensor rgb = preview.decode(z);  // [F, 3, h, w]
    ASSERT_EQ(rgb.shape(), (Shape{f, 3, h, w}));
    const int64_t plane = h * w;
    double worst = 0;
    for (int64_t fi = 0; fi < f; ++fi)
      for (int c = 0; c < 3; ++c)
        for (int64_t p = 0; p < plane; ++p) {
          double want = LatentPreview::bias(c);
          for (int k = 0; k < 16; ++k) want += double(LatentPreview::factor(k, c)) * z.f32()[(fi * 16 + k) * plane + p];
          worst = std::max(worst, std::abs(want - rgb.f32()[(fi * 3 + c) * plane + p]));
        }
    EXPECT_LT(worst, 1e-5) << f << "x" << h << "x" << w;
  }
}

TEST(LatentPreview, ZeroLatentsShowTheBiasColour) {
  const LatentPreview preview;
  std::vector<uint8_t> rgb;
  preview.decode_rgb8(Tensor::zeros({1, 16, 2, 3}), rgb);
  ASSERT_EQ(rgb.size(), 2u * 3u * 3u);
  // bias (-0.1835, -0.0868, -0.3360) in [-1, 1] -> (x + 1) * 127.5 rounded
  for (size_t i = 0; i < rgb.size(); i += 3) {
    EXPECT_NEAR(rgb[i + 0], 104, 1);
    EXPECT_NEAR(rgb[i + 1], 116, 1);
    EXPECT_NEAR(rgb[i + 2], 85, 1);
  }
}

TEST(LatentPreview, RefusesLatentsThatAreNotWan21s) {
  const LatentPreview preview;
  EXPECT_THROW(preview.decode(Tensor::zeros({1, 4, 8, 8})), Error);
  EXPECT_THROW(preview.decode(Tensor::zeros({16, 8, 8})), Error);
}

}  // namespace
}  // namespace wl
