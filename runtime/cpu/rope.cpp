// 3D rotary position embedding (spec in runtime/ops.h). Per call, cos/sin
// tables in float64 for the frames, rows and columns of the grid; the rotation
// is done in float64 and rounded to float once.
#include <cmath>
#include <vector>

#include "runtime/cpu/ops_cpu.h"

namespace wl::cpu {

namespace {

// Table [count][n] of cos and sin of angle(pos, i) = pos / 10000^(2i / (2n))
// for pos in [pos0, pos0 + count).
void angle_table(int64_t pos0, int64_t count, int64_t n, std::vector<double>& cs, std::vector<double>& sn) {
  cs.assign(static_cast<size_t>(count * n), 0.0);
  sn.assign(static_cast<size_t>(count * n), 0.0);
  std::vector<double> inv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    inv[i] = 1.0 / std::pow(10000.0, static_cast<double>(2 * i) / static_cast<double>(2 * n));
  for (int64_t p = 0; p < count; ++p)
    for (int64_t i = 0; i < n; ++i) {
      const double a = static_cast<double>(pos0 + p) * inv[i];
      cs[p * n + i] = std::cos(a);
      sn[p * n + i] = std::sin(a);
    }
}

}  // namespace

void rope_3d(Tensor& x, int64_t frame0, int64_t frames, int64_t rows, int64_t cols) {
  const int64_t T = x.dim(0), H = x.dim(1), d = x.dim(2);
  const int64_t c = d / 2;
  const int64_t ch = c / 3, cw = c / 3, ct = c - 2 * (c / 3);
  std::vector<double> fc, fs, hc, hs, wc, ws;
  angle_table(frame0, frames, ct, fc, fs);
  angle_table(0, rows, ch, hc, hs);
  angle_table(0, cols, cw, wc, ws);
  float* xp = x.f32();
  const int64_t hw = rows * cols;
#pragma omp parallel if (T * H * d >= detail::kParallelMin)
  {
    std::vector<double> cs(static_cast<size_t>(c)), sn(static_cast<size_t>(c));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t f = t / hw, r = (t % hw) / cols, w = t % cols;
      for (int64_t i = 0; i < ct; ++i) cs[i] = fc[f * ct + i], sn[i] = fs[f * ct + i];
      for (int64_t i = 0; i < ch; ++i) cs[ct + i] = hc[r * ch + i], sn[ct + i] = hs[r * ch + i];
      for (int64_t i = 0; i < cw; ++i) cs[ct + ch + i] = wc[w * cw + i], sn[ct + ch + i] = ws[w * cw + i];
      for (int64_t h = 0; h < H; ++h) {
        float* v = xp + (t * H + h) * d;
#pragma omp simd
        for (int64_t i = 0; i < c; ++i) {
          const double a = v[2 * i], b = v[2 * i + 1];
          v[2 * i] = static_cast<float>(a * cs[i] - b * sn[i]);
          v[2 * i + 1] = static_cast<float>(a * sn[i] + b * cs[i]);
        }
      }
    }
  }
}

}  // namespace wl::cpu
