// 3D RoPE angles and the pair rotation, shared by rope_3d (rope.cu) and the
// fused rms_norm_rope_3d (norms.cu) so both give the same numbers as the CPU
// (runtime/cpu/rope.cpp): angles, cos/sin and rotation in float64.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/core/error.h"

namespace wl::cuda::kernels {

// A token grid of frames x rows x cols (token t = (f * rows + r) * cols + c),
// the first frame at absolute position frame0, and the split of a head's c
// pairs into ct (frame), ch (row) and cw (column) parts.
struct RopeGrid {
  int64_t frame0 = 0, rows = 0, cols = 0;
  int ct = 0, ch = 0, cw = 0;
};

inline RopeGrid make_rope_grid(int64_t frame0, int64_t rows, int64_t cols, int64_t head_dim) {
  const int c = static_cast<int>(head_dim / 2);
  RopeGrid g;
  g.frame0 = frame0;
  g.rows = rows;
  g.cols = cols;
  g.ch = c / 3;
  g.cw = c / 3;
  g.ct = c - 2 * (c / 3);
  return g;
}

// Dynamic shared memory for one token's cos [c] and sin [c] tables (float64).
inline size_t rope_table_bytes(int64_t head_dim, const char* op) {
  const size_t bytes = static_cast<size_t>(head_dim / 2) * 2 * sizeof(double);
  if (bytes > 48 * 1024)
    throw Error(std::string(op) + ": head width " + std::to_string(head_dim) + " is too large for the RoPE kernel");
  return bytes;
}

// cos and sin of pair i's angle for token t: part p of size n rotates by
// angle(pos, j) = pos / 10000^(2j / (2n)), j = i - (start of part p).
__device__ inline void rope_cos_sin(const RopeGrid& g, int64_t t, int i, double& cs, double& sn) {
  const int64_t hw = g.rows * g.cols;
  int64_t pos = t % g.cols;  // the column part
  int j = i - g.ct - g.ch, n = g.cw;
  if (i < g.ct) {  // the frame part
    pos = g.frame0 + t / hw;
    j = i;
    n = g.ct;
  } else if (i < g.ct + g.ch) {  // the row part
    pos = (t % hw) / g.cols;
    j = i - g.ct;
    n = g.ch;
  }
  const double inv = 1.0 / pow(10000.0, static_cast<double>(2 * j) / static_cast<double>(2 * n));
  sincos(static_cast<double>(pos) * inv, &sn, &cs);
}

// (x0 + i x1) *= (cs + i sn), in float64, rounded to float once. The fma is
// spelled out so every kernel that rotates rounds the same way.
__device__ inline void rope_rotate(float& x0, float& x1, double cs, double sn) {
  const double a = x0, b = x1;
  x0 = static_cast<float>(fma(a, cs, -(b * sn)));
  x1 = static_cast<float>(fma(a, sn, b * cs));
}

}  // namespace wl::cuda::kernels
