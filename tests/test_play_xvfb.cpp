// Checks the screenshot taken by the `play_xvfb_screenshot` ctest (worldloop
// play under Xvfb on lavapipe, 1280x720, the default 320x240 test pattern
// letterboxed to 960x720 at x = 160). Run by ctest -L window, which sets
// WL_PLAY_PNG; skipped elsewhere.
#include <cmath>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>
#include <stb/stb_image.h>

namespace {

struct Image {
  int w = 0, h = 0;
  unsigned char* px = nullptr;
  ~Image() { stbi_image_free(px); }
  const unsigned char* at(int x, int y) const { return px + (static_cast<size_t>(y) * w + x) * 3; }
};

struct RegionStats {
  double mean[3] = {0, 0, 0};
  double variance = 0;       // of luma
  double off_clear = 0;      // share of pixels that are not the clear colour
};

RegionStats region(const Image& im, int x0, int y0, int x1, int y1) {
  RegionStats s;
  double sum = 0, sum2 = 0;
  long n = 0, off = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const unsigned char* p = im.at(x, y);
      for (int c = 0; c < 3; ++c) s.mean[c] += p[c];
      const double l = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
      sum += l;
      sum2 += l * l;
      // The presenter clears to (0.06, 0.06, 0.07) -> about (15, 15, 18).
      if (std::abs(p[0] - 15) + std::abs(p[1] - 15) + std::abs(p[2] - 18) > 12) ++off;
      ++n;
    }
  for (double& m : s.mean) m /= static_cast<double>(n);
  s.variance = sum2 / static_cast<double>(n) - (sum / static_cast<double>(n)) * (sum / static_cast<double>(n));
  s.off_clear = static_cast<double>(off) / static_cast<double>(n);
  return s;
}

TEST(PlayXvfb, ScreenshotShowsFrameAndOverlay) {
  const char* path = std::getenv("WL_PLAY_PNG");
  if (!path) GTEST_SKIP() << "run through ctest -L window (needs the play_xvfb_screenshot fixture)";
  Image im;
  int channels = 0;
  im.px = stbi_load(path, &im.w, &im.h, &channels, 3);
  ASSERT_NE(im.px, nullptr) << "cannot read " << path;
  ASSERT_EQ(im.w, 1280);
  ASSERT_EQ(im.h, 720);

  // Not blank: the whole image varies.
  EXPECT_GT(region(im, 0, 0, im.w, im.h).variance, 200.0);

  // The frame: the middle of the letterboxed rectangle, below the horizon and
  // clear of the overlay panels, shows the moving pattern.
  const RegionStats frame = region(im, 600, 300, 1000, 500);
  EXPECT_GT(frame.variance, 50.0) << "frame region is flat";
  EXPECT_GT(frame.off_clear, 0.99) << "frame region shows the clear colour";

  // The pillarbox left of the frame, between the HUD and the controls, is
  // only cleared: the frame is letterboxed, not stretched.
  const RegionStats bar = region(im, 20, 260, 150, 480);
  EXPECT_LT(bar.off_clear, 0.02) << "left pillarbox is not the clear colour";

  // The performance HUD sits over that pillarbox at the top: text and the
  // frame-time graph must be there, and they do not look like the frame.
  const RegionStats hud = region(im, 12, 12, 150, 200);
  EXPECT_GT(hud.off_clear, 0.2) << "no overlay drawn at the top left";  // title bar, graph, text
  EXPECT_GT(hud.variance, 20.0) << "overlay region is flat (no text?)";
  double diff = 0;
  for (int c = 0; c < 3; ++c) diff += std::abs(hud.mean[c] - frame.mean[c]);
  EXPECT_GT(diff, 30.0) << "overlay region looks like the frame region";
}

}  // namespace
