#include "bench/eval/image_metrics.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>

namespace wl::app {
namespace {

double luma(const uint8_t* p) { return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]; }

using cd = std::complex<double>;

// In-place DFT of n values with stride (plain O(n^2) with a twiddle table:
// frames are 64..128 wide, so this is cheap enough and needs no FFT library).
void dft(cd* data, int n, int stride, bool inverse, std::vector<cd>& scratch) {
  std::vector<cd> twiddle(static_cast<size_t>(n));
  const double sign = inverse ? 1.0 : -1.0;
  for (int i = 0; i < n; ++i) twiddle[i] = std::polar(1.0, sign * 2.0 * M_PI * i / n);
  scratch.assign(static_cast<size_t>(n), cd(0, 0));
  for (int k = 0; k < n; ++k) {
    cd acc(0, 0);
    for (int j = 0; j < n; ++j) acc += data[j * stride] * twiddle[(static_cast<int64_t>(k) * j) % n];
    scratch[k] = acc;
  }
  for (int k = 0; k < n; ++k) data[k * stride] = scratch[k];
}

void dft2(std::vector<cd>& img, int w, int h, bool inverse) {
  std::vector<cd> scratch;
  for (int y = 0; y < h; ++y) dft(&img[static_cast<size_t>(y) * w], w, 1, inverse, scratch);
  for (int x = 0; x < w; ++x) dft(&img[x], h, w, inverse, scratch);
}

}  // namespace

double psnr(FrameView a, FrameView b, const std::vector<uint8_t>& mask) {
  double se = 0;
  int64_t n = 0;
  const int64_t pixels = static_cast<int64_t>(a.width) * a.height;
  for (int64_t i = 0; i < pixels; ++i) {
    if (!mask.empty() && !mask[i]) continue;
    for (int c = 0; c < 3; ++c) {
      const double d = static_cast<double>(a.rgb[i * 3 + c]) - b.rgb[i * 3 + c];
      se += d * d;
    }
    n += 3;
  }
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  if (se == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / (se / n));
}

std::vector<double> colour_histogram(FrameView f, int bins) {
  std::vector<double> h(static_cast<size_t>(bins * bins * bins), 0.0);
  const int64_t pixels = static_cast<int64_t>(f.width) * f.height;
  for (int64_t i = 0; i < pixels; ++i) {
    const uint8_t* p = f.rgb + i * 3;
    const int r = p[0] * bins / 256, g = p[1] * bins / 256, b = p[2] * bins / 256;
    h[(r * bins + g) * bins + b] += 1.0 / pixels;
  }
  return h;
}

double histogram_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d += std::abs(a[i] - b[i]);
  return 0.5 * d;
}

double contrast(FrameView f) {
  const int64_t pixels = static_cast<int64_t>(f.width) * f.height;
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < pixels; ++i) {
    const double y = luma(f.rgb + i * 3);
    s += y;
    s2 += y * y;
  }
  const double mean = s / pixels;
  return std::sqrt(std::max(0.0, s2 / pixels - mean * mean));
}

namespace {

constexpr int kPatch = 3, kPatchDims = kPatch * kPatch * 3, kDirections = 16;

// kDirections unit vectors in patch space, the same for every call.
const std::vector<double>& patch_directions() {
  static const std::vector<double> dirs = [] {
    std::vector<double> d(static_cast<size_t>(kDirections) * kPatchDims);
    uint64_t s = 0x2545f4914f6cdd1dull;
    for (int k = 0; k < kDirections; ++k) {
      double norm = 0;
      for (int j = 0; j < kPatchDims; ++j) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        const double v = static_cast<double>(s >> 11) / 9007199254740992.0 - 0.5;  // uniform in [-0.5, 0.5)
        d[static_cast<size_t>(k) * kPatchDims + j] = v;
        norm += v * v;
      }
      for (int j = 0; j < kPatchDims; ++j) d[static_cast<size_t>(k) * kPatchDims + j] /= std::sqrt(norm);
    }
    return d;
  }();
  return dirs;
}

}  // namespace

PatchTexture patch_texture(FrameView f) {
  const std::vector<double>& dirs = patch_directions();
  const int pw = f.width - kPatch + 1, ph = f.height - kPatch + 1;
  PatchTexture t{f.width, f.height, {}};
  if (pw <= 0 || ph <= 0) return t;
  t.sorted.assign(kDirections, std::vector<double>(static_cast<size_t>(pw) * ph));
  double patch[kPatchDims];
  for (int y = 0; y < ph; ++y)
    for (int x = 0; x < pw; ++x) {
      int j = 0;
      for (int dy = 0; dy < kPatch; ++dy)
        for (int dx = 0; dx < kPatch; ++dx)
          for (int c = 0; c < 3; ++c) patch[j++] = f.rgb[(static_cast<size_t>(y + dy) * f.width + x + dx) * 3 + c];
      for (int k = 0; k < kDirections; ++k) {
        double v = 0;
        for (j = 0; j < kPatchDims; ++j) v += patch[j] * dirs[static_cast<size_t>(k) * kPatchDims + j];
        t.sorted[k][static_cast<size_t>(y) * pw + x] = v;
      }
    }
  for (auto& v : t.sorted) std::sort(v.begin(), v.end());
  return t;
}

double patch_texture_distance(const PatchTexture& a, const PatchTexture& b) {
  if (a.width != b.width || a.height != b.height || a.sorted.empty() || b.sorted.empty())
    return std::numeric_limits<double>::quiet_NaN();
  double se = 0;
  size_t n = 0;
  for (int k = 0; k < kDirections; ++k)
    for (size_t i = 0; i < a.sorted[k].size(); ++i) {
      const double d = a.sorted[k][i] - b.sorted[k][i];
      se += d * d, ++n;
    }
  return std::sqrt(se / n);
}

double patch_texture_distance(FrameView a, FrameView b) {
  return patch_texture_distance(patch_texture(a), patch_texture(b));
}

Shift phase_correlation(FrameView prev, FrameView next) {
  const int w = prev.width, h = prev.height;
  std::vector<cd> a(static_cast<size_t>(w) * h), b(a.size());
  // Luma with a Hann window so the frame edges do not dominate.
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double win = (0.5 - 0.5 * std::cos(2 * M_PI * (x + 0.5) / w)) * (0.5 - 0.5 * std::cos(2 * M_PI * (y + 0.5) / h));
      const size_t i = static_cast<size_t>(y) * w + x;
      a[i] = luma(prev.rgb + i * 3) * win;
      b[i] = luma(next.rgb + i * 3) * win;
    }
  dft2(a, w, h, false);
  dft2(b, w, h, false);
  for (size_t i = 0; i < a.size(); ++i) {
    const cd r = b[i] * std::conj(a[i]);
    const double m = std::abs(r);
    a[i] = m > 1e-12 ? r / m : cd(0, 0);
  }
  dft2(a, w, h, true);
  Shift best;
  double peak = -1;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double v = a[static_cast<size_t>(y) * w + x].real();
      if (v > peak) {
        peak = v;
        best.dx = x > w / 2 ? x - w : x;
        best.dy = y > h / 2 ? y - h : y;
      }
    }
  best.peak = peak / (static_cast<double>(w) * h);
  return best;
}

MeanColour mean_colour(FrameView f) {
  MeanColour m;
  const int64_t pixels = static_cast<int64_t>(f.width) * f.height;
  for (int64_t i = 0; i < pixels; ++i) {
    m.r += f.rgb[i * 3];
    m.g += f.rgb[i * 3 + 1];
    m.b += f.rgb[i * 3 + 2];
  }
  m.r /= pixels;
  m.g /= pixels;
  m.b /= pixels;
  return m;
}

int nearest(const MeanColour& c, const std::vector<MeanColour>& centroids) {
  int best = -1;
  double best_d = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < centroids.size(); ++i) {
    const double d = (c.r - centroids[i].r) * (c.r - centroids[i].r) + (c.g - centroids[i].g) * (c.g - centroids[i].g) +
                     (c.b - centroids[i].b) * (c.b - centroids[i].b);
    if (d < best_d) {
      best_d = d;
      best = static_cast<int>(i);
    }
  }
  return best;
}

}  // namespace wl::app
