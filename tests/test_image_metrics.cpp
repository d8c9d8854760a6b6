// The world benchmark's measurements on frames with known answers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "bench/eval/image_metrics.h"

namespace wl::app {
namespace {

// A smooth random texture (so a shifted copy is a clean translation).
std::vector<uint8_t> texture(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 2 * M_PI);
  double phase[6];
  for (double& p : phase) p = u(rng);
  std::vector<uint8_t> img(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const double v = 128 + 60 * std::sin(x * 0.31 + phase[c]) * std::cos(y * 0.23 + phase[c + 3]) +
                         40 * std::sin((x + 2 * y) * 0.11 + c);
        img[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
  return img;
}

std::vector<uint8_t> shifted(const std::vector<uint8_t>& img, int w, int h, int dx, int dy) {
  std::vector<uint8_t> out(img.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int sx = ((x - dx) % w + w) % w, sy = ((y - dy) % h + h) % h;
      for (int c = 0; c < 3; ++c) out[(static_cast<size_t>(y) * w + x) * 3 + c] = img[(static_cast<size_t>(sy) * w + sx) * 3 + c];
    }
  return out;
}

TEST(ImageMetrics, PatchTextureDistanceSeesBlurAndStripesNotPlace) {
  const int w = 48, h = 40;
  // a and moved: two windows, 7 and 4 pixels apart, of one larger field of 2x2 blocks in four
  // colours (as the oracle's pixel art: the same texture everywhere)
  const uint8_t palette[4][3] = {{40, 120, 30}, {70, 160, 50}, {200, 190, 80}, {60, 90, 200}};
  std::mt19937 rng(5);
  std::vector<uint8_t> big(static_cast<size_t>(w + 7) * (h + 4) * 3);
  std::vector<int> block(static_cast<size_t>((w + 8) / 2) * ((h + 4) / 2));
  for (int& b : block) b = static_cast<int>(rng() % 4);
  for (int y = 0; y < h + 4; ++y)
    for (int x = 0; x < w + 7; ++x)
      for (int c = 0; c < 3; ++c)
        big[(static_cast<size_t>(y) * (w + 7) + x) * 3 + c] = palette[block[(y / 2) * ((w + 8) / 2) + x / 2]][c];
  std::vector<uint8_t> a(static_cast<size_t>(w) * h * 3), moved(a.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        a[(static_cast<size_t>(y) * w + x) * 3 + c] = big[(static_cast<size_t>(y) * (w + 7) + x) * 3 + c];
        moved[(static_cast<size_t>(y) * w + x) * 3 + c] = big[(static_cast<size_t>(y + 4) * (w + 7) + x + 7) * 3 + c];
      }
  std::vector<uint8_t> blurred(a.size()), stripes(a.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const size_t i = (static_cast<size_t>(y) * w + x) * 3 + c;
        int sum = 0, n = 0;
        for (int dy = -2; dy <= 2; ++dy)
          for (int dx = -2; dx <= 2; ++dx) {
            const int yy = std::clamp(y + dy, 0, h - 1), xx = std::clamp(x + dx, 0, w - 1);
            sum += a[(static_cast<size_t>(yy) * w + xx) * 3 + c], ++n;
          }
        blurred[i] = static_cast<uint8_t>(sum / n);
        // diagonal stripes of two of the texture's colours
        stripes[i] = a[(((x + y) / 2) % 2 ? 0 : (static_cast<size_t>(h / 2) * w + w / 2)) * 3 + c];
      }
  const FrameView fa{a.data(), w, h};
  EXPECT_EQ(patch_texture_distance(fa, fa), 0.0);
  // The same texture moved: most patches are still there, so small, not zero.
  const double shifted = patch_texture_distance(fa, {moved.data(), w, h});
  const double blur = patch_texture_distance(fa, {blurred.data(), w, h});
  const double striped = patch_texture_distance(fa, {stripes.data(), w, h});
  EXPECT_GT(blur, 4 * shifted) << shifted;
  EXPECT_GT(striped, 4 * shifted) << shifted;
  EXPECT_TRUE(std::isnan(patch_texture_distance(fa, {a.data(), w - 1, h})));
}

TEST(ImageMetrics, PhaseCorrelationFindsTheShift) {
  const int w = 64, h = 64;
  const auto a = texture(w, h, 1);
  for (auto [dx, dy] : {std::pair{2, 0}, {-2, 0}, {0, 2}, {0, -2}, {2, -2}, {3, 1}}) {
    const auto b = shifted(a, w, h, dx, dy);
    const Shift s = phase_correlation({a.data(), w, h}, {b.data(), w, h});
    EXPECT_EQ(s.dx, dx);
    EXPECT_EQ(s.dy, dy);
  }
}

TEST(ImageMetrics, PsnrHistogramContrastAndClassifier) {
  const int w = 32, h = 24;
  const auto a = texture(w, h, 2);
  EXPECT_TRUE(std::isinf(psnr({a.data(), w, h}, {a.data(), w, h})));
  auto b = a;
  for (auto& v : b) v = static_cast<uint8_t>(std::min(255, v + 10));
  const double p = psnr({a.data(), w, h}, {b.data(), w, h});
  EXPECT_GT(p, 25.0);
  EXPECT_LT(p, 30.0);
  std::vector<uint8_t> none(static_cast<size_t>(w) * h, 0);
  EXPECT_TRUE(std::isnan(psnr({a.data(), w, h}, {b.data(), w, h}, none)));

  EXPECT_DOUBLE_EQ(histogram_distance(colour_histogram({a.data(), w, h}), colour_histogram({a.data(), w, h})), 0.0);
  std::vector<uint8_t> grey(a.size(), 128);
  EXPECT_GT(histogram_distance(colour_histogram({a.data(), w, h}), colour_histogram({grey.data(), w, h})), 0.5);
  EXPECT_NEAR(contrast({grey.data(), w, h}), 0.0, 1e-3);
  EXPECT_GT(contrast({a.data(), w, h}), 10.0);

  std::vector<MeanColour> centroids = {{200, 40, 40}, {40, 200, 40}, {40, 40, 200}};
  std::vector<uint8_t> green(a.size());
  for (size_t i = 0; i < green.size(); i += 3) green[i] = 50, green[i + 1] = 180, green[i + 2] = 60;
  EXPECT_EQ(nearest(mean_colour({green.data(), w, h}), centroids), 1);
}

}  // namespace
}  // namespace wl::app
