// Launch sizes, the grid-stride loop and the block-wide sum shared by the
// hand-written kernels.
#pragma once
#include <climits>
#include <cstdint>
#include <string>

#include "runtime/core/error.h"

// for (int64_t i = ...; i < n; ...) over this thread's share of n elements.
#define WL_GRID_STRIDE_LOOP(i, n)                                                          \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

namespace wl::cuda::kernels {

// Threads per block of every kernel here (a multiple of 32).
constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (n > 0).
inline unsigned elementwise_blocks(int64_t n) {
  constexpr int64_t kMaxBlocks = 1 << 16;  // enough to fill any current GPU; the loop covers the rest
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

// Blocks for a kernel that gives each of `rows` rows its own block.
inline unsigned row_blocks(int64_t rows, const char* op) {
  if (rows > INT_MAX) throw Error(std::string(op) + ": " + std::to_string(rows) + " rows exceed one launch");
  return static_cast<unsigned>(rows);
}

// Sum of v over the warp, in every lane.
__device__ inline double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum of v over the block, returned to every thread; all threads must call it.
// `scratch` is shared memory for 32 values; it may be reused by the next call.
__device__ inline double block_sum(double v, double* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // a previous call's readers are done with scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return warp_sum(lane < warps ? scratch[lane] : 0.0);
}

}  // namespace wl::cuda::kernels
