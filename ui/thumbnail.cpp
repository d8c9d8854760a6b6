#include "ui/thumbnail.h"

#include <algorithm>

namespace wl::ui {

Thumbnail make_thumbnail(const uint8_t* rgb, int width, int height, int max_side) {
  Thumbnail t;
  if (!rgb || width <= 0 || height <= 0 || max_side <= 0) return t;
  const int longer = std::max(width, height);
  t.width = std::max(1, static_cast<int>(static_cast<int64_t>(width) * std::min(longer, max_side) / longer));
  t.height = std::max(1, static_cast<int>(static_cast<int64_t>(height) * std::min(longer, max_side) / longer));
  t.rgb.resize(static_cast<size_t>(t.width) * t.height * 3);
  // Each thumbnail pixel averages the frame's pixels whose index range maps onto it.
  for (int ty = 0; ty < t.height; ++ty) {
    const int y0 = static_cast<int>(static_cast<int64_t>(ty) * height / t.height);
    const int y1 = std::max(y0 + 1, static_cast<int>(static_cast<int64_t>(ty + 1) * height / t.height));
    for (int tx = 0; tx < t.width; ++tx) {
      const int x0 = static_cast<int>(static_cast<int64_t>(tx) * width / t.width);
      const int x1 = std::max(x0 + 1, static_cast<int>(static_cast<int64_t>(tx + 1) * width / t.width));
      uint32_t sum[3] = {0, 0, 0};
      for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x)
          for (int c = 0; c < 3; ++c) sum[c] += rgb[(static_cast<size_t>(y) * width + x) * 3 + c];
      const uint32_t n = static_cast<uint32_t>((y1 - y0) * (x1 - x0));
      for (int c = 0; c < 3; ++c)
        t.rgb[(static_cast<size_t>(ty) * t.width + tx) * 3 + c] = static_cast<uint8_t>((sum[c] + n / 2) / n);
    }
  }
  return t;
}

}  // namespace wl::ui
