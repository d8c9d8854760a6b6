// The fused q/k preparation ops::rms_norm_rope_3d on the CPU: the same bytes
// as ops::rms_norm over the whole row followed by ops::rope_3d (the CUDA
// kernel is held to the same numbers in tests/gpu/test_cuda_ops.cpp), and
// close to the float64 references.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "runtime/core/ops.h"
#include "tests/support/reference_ops.h"

namespace wl {
namespace {

TEST(OpsFused, RmsNormRope3dEqualsRmsNormThenRope3d) {
  std::mt19937 g(31);
  struct Grid {
    int64_t frames, rows, cols;
  };
  for (int64_t H : {1, 2, 3})
    for (int64_t d : {2, 6, 64})
      for (int64_t frame0 : {0, 7, 3000})
        for (Grid gr : {Grid{1, 1, 1}, Grid{2, 3, 5}, Grid{3, 4, 2}})
          for (bool weighted : {false, true}) {
            const int64_t T = gr.frames * gr.rows * gr.cols;
            const std::string what = "H " + std::to_string(H) + " d " + std::to_string(d) + " frame0 " +
                                     std::to_string(frame0) + " T " + std::to_string(T) + " weighted " +
                                     std::to_string(weighted);
            const Tensor x = ref::uniform({T, H, d}, g, -2.0f, 3.0f);
            const Tensor w = weighted ? ref::uniform({H * d}, g, 0.5f, 1.5f) : Tensor();
            Tensor normed = Tensor::empty({T, H, d}), rotated = Tensor::empty({T, H, d});
            ops::rms_norm_rope_3d(x, w, 1e-6f, frame0, gr.frames, gr.rows, gr.cols, normed, rotated);

            Tensor unfused = Tensor::empty({T, H * d});
            ops::rms_norm(x.reshape({T, H * d}), w, 1e-6f, unfused);
            EXPECT_EQ(0, std::memcmp(unfused.raw(), normed.raw(), normed.nbytes())) << what;
            Tensor unfused_rot = unfused.clone().reshape({T, H, d});
            ops::rope_3d(unfused_rot, frame0, gr.frames, gr.rows, gr.cols);
            EXPECT_EQ(0, std::memcmp(unfused_rot.raw(), rotated.raw(), rotated.nbytes())) << what;

            EXPECT_LE(ref::normalised_error(normed, ref::rms_norm(x.reshape({T, H * d}), w, 1e-6)), 1e-5) << what;
            EXPECT_LE(ref::normalised_error(rotated, ref::rope_3d(normed, frame0, gr.frames, gr.rows, gr.cols)), 1e-6)
                << what;
          }
}

}  // namespace
}  // namespace wl
