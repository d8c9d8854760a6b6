// rope_3d on the device (spec in runtime/ops.h, CPU twin runtime/cpu/rope.cpp):
// one block per token computes the token's c angles once into shared memory,
// then rotates the pairs of every head in place.
#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/kernel_common.cuh"
#include "runtime/cuda/ops_cuda.h"
#include "runtime/cuda/rope_math.cuh"

namespace wl::cuda {

namespace {

using namespace kernels;

// x [T, H, d] with d = 2c; block t handles token t.
__global__ void rope_3d_kernel(float* x, int64_t H, int c, RopeGrid grid) {
  extern __shared__ double table[];  // cos [c], then sin [c]
  const int64_t t = blockIdx.x;
  for (int i = threadIdx.x; i < c; i += blockDim.x) rope_cos_sin(grid, t, i, table[i], table[c + i]);
  __syncthreads();
  float* row = x + t * H * 2 * c;
  for (int64_t p = threadIdx.x; p < H * c; p += blockDim.x) {
    const int i = static_cast<int>(p % c);
    float a = row[2 * p], b = row[2 * p + 1];
    rope_rotate(a, b, table[i], table[c + i]);
    row[2 * p] = a;
    row[2 * p + 1] = b;
  }
}

}  // namespace

// T = frames * rows * cols (checked by ops::rope_3d); the frame count itself is not needed.
void rope_3d(Tensor& x, int64_t frame0, int64_t /*frames*/, int64_t rows, int64_t cols) {
  const int64_t T = x.dim(0), H = x.dim(1), d = x.dim(2);
  if (T == 0 || H == 0 || d == 0) return;
  const size_t shared = rope_table_bytes(d, "rope_3d");
  rope_3d_kernel<<<row_blocks(T, "rope_3d"), kThreads, shared, stream()>>>(
      x.f32(), H, static_cast<int>(d / 2), make_rope_grid(frame0, rows, cols, d));
  WL_CUDA_CHECK_LAUNCH();
}

}  // namespace wl::cuda
