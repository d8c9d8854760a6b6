// Saved states' thumbnails (ui/thumbnail.h): the box filter against a plain
// per-pixel average on odd sizes.
#ifdef WORLDLOOP_HAS_VULKAN
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "ui/thumbnail.h"

namespace {

TEST(Thumbnail, BoxFilterMatchesAPlainAverageOnOddSizes) {
  std::mt19937 rng(5);
  for (auto [w, h, side] : {std::tuple{64, 64, 32}, std::tuple{37, 23, 10}, std::tuple{5, 9, 32}, std::tuple{1, 1, 4},
                            std::tuple{100, 3, 7}}) {
    std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
    for (auto& v : rgb) v = static_cast<uint8_t>(rng());
    const wl::ui::Thumbnail t = wl::ui::make_thumbnail(rgb.data(), w, h, side);
    ASSERT_LE(std::max(t.width, t.height), std::max(1, std::min(side, std::max(w, h))));
    ASSERT_EQ(t.rgb.size(), static_cast<size_t>(t.width) * t.height * 3);
    // Box k of n over a side of s pixels starts at floor(k * s / n); a source
    // pixel belongs to the last box starting at or before it.
    auto box_of = [](int i, int s, int n) {
      int k = 0;
      while (k + 1 < n && (k + 1) * s / n <= i) ++k;
      return k;
    };
    // Each output pixel: the rounded mean of the source pixels in its box.
    for (int ty = 0; ty < t.height; ++ty)
      for (int tx = 0; tx < t.width; ++tx)
        for (int c = 0; c < 3; ++c) {
          double sum = 0;
          int n = 0;
          for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
              if (box_of(y, h, t.height) == ty && box_of(x, w, t.width) == tx) {
                sum += rgb[(static_cast<size_t>(y) * w + x) * 3 + c];
                ++n;
              }
          ASSERT_GT(n, 0);
          EXPECT_NEAR(t.rgb[(static_cast<size_t>(ty) * t.width + tx) * 3 + c], sum / n, 0.5 + 1e-9)
              << w << "x" << h << " -> " << t.width << "x" << t.height << " at " << tx << "," << ty;
        }
  }
}

TEST(Thumbnail, EmptyInputsGiveAnEmptyThumbnail) {
  uint8_t px[3] = {1, 2, 3};
  EXPECT_TRUE(wl::ui::make_thumbnail(nullptr, 4, 4, 8).empty());
  EXPECT_TRUE(wl::ui::make_thumbnail(px, 0, 1, 8).empty());
  EXPECT_TRUE(wl::ui::make_thumbnail(px, 1, 1, 0).empty());
  const wl::ui::Thumbnail one = wl::ui::make_thumbnail(px, 1, 1, 8);
  ASSERT_EQ(one.width, 1);
  EXPECT_EQ(one.rgb, std::vector<uint8_t>({1, 2, 3}));
}

}  // namespace
#endif
