// The CUDA ops (runtime/cuda/) against their CPU twins: the same ops:: call on
// CPU tensors and on device copies of them, random inputs of odd shapes.
//
// Tolerances (relative L2, gpu_test::normalised_error):
//   linear F32            1e-5  (f32 products and sums; TF32 would miss by ~1e-3)
//   linear BF16           1e-4  against the CPU in F32 on the same bf16-rounded
//                               inputs (bf16 products are exact in f32, only the
//                               order of the f32 sums differs)
//   norms, elementwise    1e-5
//   rope_3d               1e-6  (float64 angles and rotation on both sides)
//   conv2d                1e-5
//   layout copies         exact
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/error.h"
#include "tests/gpu/gpu_test.h"

namespace wl {
namespace {

using gpu_test::normalised_error;
using gpu_test::random_tensor;

Tensor on_device(const Tensor& t) { return ops::to_backend(t, Backend::CUDA); }
Tensor on_host(const Tensor& t) { return ops::to_backend(t, Backend::CPU); }

// Same shape, dtype and bytes (either tensor on any backend).
bool same_bytes(const Tensor& a, const Tensor& b) {
  const Tensor ha = on_host(a), hb = on_host(b);
  return ha.shape() == hb.shape() && ha.dtype() == hb.dtype() && std::memcmp(ha.raw(), hb.raw(), ha.nbytes()) == 0;
}

std::string shp(const Shape& s) { return shape_str(s); }

// ---- linear ----------------------------------------------------------------------

// y = x W^T + b on the device in `precision` against the CPU in F32; for BF16
// the CPU gets x and W rounded to bf16, so both sides multiply the same values.
void check_linear(const Tensor& x, const Tensor& w, const Tensor& b, ops::MatmulPrecision precision,
                  double tol, const std::string& what) {
  const int64_t M = x.dim(0), N = w.dim(0);
  const bool bf16 = precision == ops::MatmulPrecision::BF16;
  const Tensor x_ref = bf16 ? x.to(DType::BF16).to(DType::F32) : x;
  const Tensor w_ref = bf16 ? w.to(DType::BF16).to(DType::F32) : w.to(DType::F32);
  const ops::LinearWeight cpu_w = ops::prepare_linear(w_ref, b, ops::MatmulPrecision::F32);
  Tensor want = Tensor::empty({M, N});
  ops::linear(x_ref, cpu_w, want);

  const ops::LinearWeight dev_w = ops::prepare_linear(w, b, precision, Backend::CUDA);
  ASSERT_EQ(dev_w.weight.backend(), Backend::CUDA);
  ASSERT_EQ(dev_w.weight.dtype(), bf16 ? DType::BF16 : DType::F32);
  ASSERT_EQ(dev_w.weight.shape(), (Shape{N, x.dim(1)}));
  Tensor y = ops::empty({M, N}, Backend::CUDA);
  ops::linear(on_device(x), dev_w, y);
  EXPECT_LE(normalised_error(y, want), tol) << what;
}

// Every (M, K, N, bias) of a grid of odd shapes through check_linear.
void check_linear_grid(ops::MatmulPrecision precision, double tol, uint32_t seed) {
  for (int64_t M : {1, 7, 131})
    for (int64_t K : {3, 64, 200})
      for (int64_t N : {1, 5, 96, 257})
        for (bool bias : {false, true}) {
          const Tensor x = random_tensor({M, K}, seed++);
          const Tensor w = random_tensor({N, K}, seed++);
          const Tensor b = bias ? random_tensor({N}, seed++) : Tensor();
          check_linear(x, w, b, precision, tol,
                       std::string(ops::precision_name(precision)) + " M " + std::to_string(M) + " K " +
                           std::to_string(K) + " N " + std::to_string(N) + " bias " + std::to_string(bias));
        }
}

TEST(CudaOps, LinearF32MatchesCpu) {
  WL_REQUIRE_CUDA();
  check_linear_grid(ops::MatmulPrecision::F32, 1e-5, 100);
}

TEST(CudaOps, LinearBf16MatchesCpuOnRoundedInputs) {
  WL_REQUIRE_CUDA();
  check_linear_grid(ops::MatmulPrecision::BF16, 1e-4, 200);
}

TEST(CudaOps, LinearTakesEveryCheckpointDtype) {
  WL_REQUIRE_CUDA();
  const Tensor x = random_tensor({9, 40}, 300);
  const Tensor w = random_tensor({33, 40}, 301);
  const Tensor b = random_tensor({33}, 302);
  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (ops::MatmulPrecision p : {ops::MatmulPrecision::F32, ops::MatmulPrecision::BF16})
      check_linear(x, w.to(dt), b.to(dt), p, p == ops::MatmulPrecision::F32 ? 1e-5 : 1e-4,
                   std::string("checkpoint ") + dtype_name(dt) + " precision " + ops::precision_name(p));
}

// Operands that start 4 bytes into an allocation: the cached algorithm must
// not assume the usual 256-byte alignment.
TEST(CudaOps, LinearTakesOffsetOperands) {
  WL_REQUIRE_CUDA();
  const int64_t M = 13, K = 37, N = 29;
  const Tensor x = random_tensor({M, K}, 400);
  const Tensor w = random_tensor({N, K}, 401);
  const Tensor b = random_tensor({N}, 402);
  for (ops::MatmulPrecision p : {ops::MatmulPrecision::F32, ops::MatmulPrecision::BF16}) {
    const bool bf16 = p == ops::MatmulPrecision::BF16;
    const ops::LinearWeight cpu_w =
        ops::prepare_linear(bf16 ? w.to(DType::BF16).to(DType::F32) : w, b, ops::MatmulPrecision::F32);
    Tensor want = Tensor::empty({M, N});
    ops::linear(bf16 ? x.to(DType::BF16).to(DType::F32) : x, cpu_w, want);

    Tensor x_store = ops::empty({M * K + 1}, Backend::CUDA);
    Tensor y_store = ops::empty({M * N + 1}, Backend::CUDA);
    Tensor x_dev = Tensor::view(x_store.f32() + 1, {M, K}, DType::F32, nullptr, Backend::CUDA);
    Tensor y_dev = Tensor::view(y_store.f32() + 1, {M, N}, DType::F32, nullptr, Backend::CUDA);
    ops::copy(x, x_dev);
    ops::linear(x_dev, ops::prepare_linear(w, b, p, Backend::CUDA), y_dev);
    EXPECT_LE(normalised_error(y_dev, want), bf16 ? 1e-4 : 1e-5) << ops::precision_name(p);
  }
}

// ---- normalisation ---------------------------------------------------------------

TEST(CudaOps, LayerNormMatchesCpu) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 500;
  for (int64_t rows : {1, 7, 131})
    for (int64_t D : {1, 33, 192, 1536})
      for (int affine = 0; affine < 4; ++affine) {
        // An offset mean checks the variance is centred (two passes), not E[x^2] - E[x]^2.
        const Tensor x = random_tensor({rows, D}, seed++, 40.0f, 44.0f);
        const Tensor w = affine & 1 ? random_tensor({D}, seed++, 0.5f, 1.5f) : Tensor();
        const Tensor b = affine & 2 ? random_tensor({D}, seed++) : Tensor();
        Tensor want = Tensor::empty({rows, D});
        ops::layer_norm(x, w, b, 1e-6f, want);
        const Tensor wd = w.defined() ? on_device(w) : Tensor(), bd = b.defined() ? on_device(b) : Tensor();
        Tensor y = ops::empty({rows, D}, Backend::CUDA);
        ops::layer_norm(on_device(x), wd, bd, 1e-6f, y);
        EXPECT_LE(normalised_error(y, want), 1e-5) << "rows " << rows << " D " << D << " affine " << affine;
        Tensor in_place = on_device(x);  // y may alias x
        ops::layer_norm(in_place, wd, bd, 1e-6f, in_place);
        EXPECT_LE(normalised_error(in_place, want), 1e-5) << "in place, rows " << rows << " D " << D;
      }
}

TEST(CudaOps, LayerNormModulateMatchesCpu) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 600;
  for (int64_t T : {1, 7, 131})
    for (int64_t D : {33, 192})
      for (int64_t per_frame : {1, 3, 7}) {
        const int64_t F = (T + per_frame - 1) / per_frame, R = 6;
        const Tensor x = random_tensor({T, D}, seed++, -3.0f, 5.0f);
        const Tensor mod = random_tensor({F, R, D}, seed++);
        for (auto [shift_row, scale_row] : {std::pair{0, 1}, std::pair{4, 3}}) {
          Tensor want = Tensor::empty({T, D});
          ops::layer_norm_modulate(x, mod, shift_row, scale_row, per_frame, 1e-6f, want);
          Tensor y = ops::empty({T, D}, Backend::CUDA);
          ops::layer_norm_modulate(on_device(x), on_device(mod), shift_row, scale_row, per_frame, 1e-6f, y);
          EXPECT_LE(normalised_error(y, want), 1e-5)
              << "T " << T << " D " << D << " per frame " << per_frame << " rows " << shift_row << "," << scale_row;
        }
      }
}

TEST(CudaOps, RmsNormMatchesCpu) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 700;
  for (int64_t rows : {1, 7, 131})
    for (int64_t D : {1, 33, 192, 1536})
      for (bool weighted : {false, true}) {
        const Tensor x = random_tensor({rows, D}, seed++, -3.0f, 2.0f);
        const Tensor w = weighted ? random_tensor({D}, seed++, 0.5f, 1.5f) : Tensor();
        Tensor want = Tensor::empty({rows, D});
        ops::rms_norm(x, w, 1e-6f, want);
        Tensor y = on_device(x);  // in place
        ops::rms_norm(y, weighted ? on_device(w) : Tensor(), 1e-6f, y);
        EXPECT_LE(normalised_error(y, want), 1e-5) << "rows " << rows << " D " << D << " weighted " << weighted;
      }
}

// ---- positions ---------------------------------------------------------------------

struct Grid {
  int64_t frames, rows, cols;
};
const Grid kGrids[] = {{1, 1, 1}, {2, 3, 5}, {3, 7, 9}, {1, 4, 11}};

TEST(CudaOps, Rope3dMatchesCpu) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 800;
  for (int64_t H : {1, 2, 3})
    for (int64_t d : {2, 4, 6, 18, 64, 128})
      for (int64_t frame0 : {0, 5, 1500, 3000, 123456})
        for (Grid g : kGrids) {
          const int64_t T = g.frames * g.rows * g.cols;
          Tensor x = random_tensor({T, H, d}, seed++);
          Tensor xd = on_device(x);
          ops::rope_3d(x, frame0, g.frames, g.rows, g.cols);
          ops::rope_3d(xd, frame0, g.frames, g.rows, g.cols);
          EXPECT_LE(normalised_error(xd, x), 1e-6) << "H " << H << " d " << d << " frame0 " << frame0 << " grid "
                                                   << g.frames << "x" << g.rows << "x" << g.cols;
        }
}

// The fused kernel against the CPU, and against the two device ops it fuses
// (bit for bit: the same row sum, the same angle and rotation code).
TEST(CudaOps, RmsNormRope3dMatchesCpuAndTheUnfusedOps) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 900;
  for (int64_t H : {1, 2, 3})
    for (int64_t d : {2, 6, 64, 128})
      for (int64_t frame0 : {0, 7, 3000})
        for (Grid g : kGrids)
          for (bool weighted : {false, true}) {
            const int64_t T = g.frames * g.rows * g.cols;
            const std::string what = "H " + std::to_string(H) + " d " + std::to_string(d) + " frame0 " +
                                     std::to_string(frame0) + " T " + std::to_string(T) + " weighted " +
                                     std::to_string(weighted);
            const Tensor x = random_tensor({T, H, d}, seed++, -2.0f, 3.0f);
            const Tensor w = weighted ? random_tensor({H * d}, seed++, 0.5f, 1.5f) : Tensor();
            Tensor normed = Tensor::empty({T, H, d}), rotated = Tensor::empty({T, H, d});
            ops::rms_norm_rope_3d(x, w, 1e-6f, frame0, g.frames, g.rows, g.cols, normed, rotated);

            const Tensor xd = on_device(x), wd = weighted ? on_device(w) : Tensor();
            Tensor normed_d = ops::empty({T, H, d}, Backend::CUDA), rotated_d = ops::empty({T, H, d}, Backend::CUDA);
            ops::rms_norm_rope_3d(xd, wd, 1e-6f, frame0, g.frames, g.rows, g.cols, normed_d, rotated_d);
            EXPECT_LE(normalised_error(normed_d, normed), 1e-6) << what;
            EXPECT_LE(normalised_error(rotated_d, rotated), 1e-6) << what;

            Tensor unfused = ops::empty({T, H * d}, Backend::CUDA);  // [T, H*d]
            ops::rms_norm(xd.reshape({T, H * d}), wd, 1e-6f, unfused);
            Tensor unfused_rot = unfused.reshape({T, H, d});
            EXPECT_TRUE(same_bytes(unfused_rot, normed_d)) << what;
            ops::rope_3d(unfused_rot, frame0, g.frames, g.rows, g.cols);
            EXPECT_TRUE(same_bytes(unfused_rot, rotated_d)) << what;
          }
}

// ---- elementwise ---------------------------------------------------------------------

TEST(CudaOps, AddAndGatedAddMatchCpu) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 1000;
  for (int64_t T : {1, 7, 131})
    for (int64_t D : {33, 192})
      for (int64_t per_frame : {1, 4}) {
        const int64_t F = (T + per_frame - 1) / per_frame, R = 6;
        Tensor x = random_tensor({T, D}, seed++);
        const Tensor y = random_tensor({T, D}, seed++);
        const Tensor mod = random_tensor({F, R, D}, seed++);
        Tensor xd = on_device(x);
        ops::gated_add(x, y, mod, 2, per_frame);
        ops::gated_add(xd, on_device(y), on_device(mod), 2, per_frame);
        EXPECT_LE(normalised_error(xd, x), 1e-5) << "gated_add T " << T << " D " << D << " per frame " << per_frame;
        ops::add(x, y);
        ops::add(xd, on_device(y));
        EXPECT_LE(normalised_error(xd, x), 1e-5) << "add T " << T << " D " << D;
      }
}

TEST(CudaOps, AddModulationMatchesCpu) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 1100;
  for (int64_t F : {1, 3})
    for (int64_t R : {1, 6})
      for (int64_t D : {33, 192})
        for (bool per_row : {false, true}) {
          const Tensor base = random_tensor({R, D}, seed++);
          const Tensor e = per_row ? random_tensor({F, R, D}, seed++) : random_tensor({F, D}, seed++);
          Tensor want = Tensor::empty({F, R, D});
          ops::add_modulation(base, e, want);
          Tensor out = ops::empty({F, R, D}, Backend::CUDA);
          ops::add_modulation(on_device(base), on_device(e), out);
          EXPECT_LE(normalised_error(out, want), 1e-5)
              << "F " << F << " R " << R << " D " << D << " per row " << per_row;
        }
}

TEST(CudaOps, ActivationsMatchCpu) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 1200;
  for (int64_t n : {1, 33, 4099, 70001})
    for (float range : {8.0f, 100.0f}) {  // 100: exp overflows for the large negative inputs
      Tensor g = random_tensor({n}, seed++, -range, range);
      Tensor s = g.clone();
      Tensor gd = on_device(g), sd = on_device(s);
      ops::gelu_tanh(g);
      ops::gelu_tanh(gd);
      ops::silu(s);
      ops::silu(sd);
      EXPECT_LE(normalised_error(gd, g), 1e-5) << "gelu_tanh n " << n << " range " << range;
      EXPECT_LE(normalised_error(sd, s), 1e-5) << "silu n " << n << " range " << range;
    }
}

// ---- layout ----------------------------------------------------------------------------

TEST(CudaOps, PatchifyAndUnpatchifyCopyExactly) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 1300;
  for (int64_t F : {1, 3})
    for (int64_t C : {1, 3, 16})
      for (int ph : {1, 2, 3})
        for (int pw : {1, 2}) {
          const int64_t h = 5, w = 7, H = h * ph, W = w * pw;
          const std::string what = "F " + std::to_string(F) + " C " + std::to_string(C) + " patch " +
                                   std::to_string(ph) + "x" + std::to_string(pw);
          const Tensor x = random_tensor({F, C, H, W}, seed++);
          Tensor patches = Tensor::empty({F * h * w, C * ph * pw});
          ops::patchify(x, ph, pw, patches);
          Tensor patches_d = ops::empty(patches.shape(), Backend::CUDA);
          ops::patchify(on_device(x), ph, pw, patches_d);
          EXPECT_TRUE(same_bytes(patches_d, patches)) << "patchify " << what;

          const Tensor tokens = random_tensor({F * h * w, ph * pw * C}, seed++);
          Tensor out = Tensor::empty({F, C, H, W});
          ops::unpatchify(tokens, F, h, w, ph, pw, C, out);
          Tensor out_d = ops::empty(out.shape(), Backend::CUDA);
          ops::unpatchify(on_device(tokens), F, h, w, ph, pw, C, out_d);
          EXPECT_TRUE(same_bytes(out_d, out)) << "unpatchify " << what;
        }
}

TEST(CudaOps, UpsampleNearest2xCopiesExactly) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 1400;
  for (Shape s : {Shape{1, 1, 1, 1}, Shape{2, 3, 5, 7}, Shape{1, 16, 9, 33}}) {
    const Tensor x = random_tensor(s, seed++);
    const Shape up{s[0], s[1], 2 * s[2], 2 * s[3]};
    Tensor want = Tensor::empty(up);
    ops::upsample_nearest_2x(x, want);
    Tensor y = ops::empty(up, Backend::CUDA);
    ops::upsample_nearest_2x(on_device(x), y);
    EXPECT_TRUE(same_bytes(y, want)) << shp(s);
  }
}

// ---- convolutions -----------------------------------------------------------------------

struct ConvCase {
  int64_t n, c, h, w, o, k;
  int stride, padding;
};

TEST(CudaOps, Conv2dMatchesCpu) {
  WL_REQUIRE_CUDA();
  const ConvCase cases[] = {
      {1, 1, 5, 7, 1, 1, 1, 0},    {1, 3, 9, 17, 4, 3, 1, 1},  {2, 5, 9, 7, 7, 3, 2, 1},   {2, 3, 8, 11, 4, 1, 2, 0},
      {1, 4, 17, 9, 3, 3, 2, 0},   {1, 7, 6, 6, 5, 3, 1, 0},   {3, 2, 13, 5, 6, 1, 1, 0},  {1, 64, 33, 47, 32, 3, 1, 1},
      {1, 32, 31, 21, 16, 3, 2, 1}, {2, 16, 20, 20, 64, 1, 1, 0},
  };
  uint32_t seed = 1500;
  for (const ConvCase& cc : cases)
    for (bool bias : {false, true}) {
      const std::string what = "x [" + std::to_string(cc.n) + ", " + std::to_string(cc.c) + ", " +
                               std::to_string(cc.h) + ", " + std::to_string(cc.w) + "] o " + std::to_string(cc.o) +
                               " k " + std::to_string(cc.k) + " stride " + std::to_string(cc.stride) + " padding " +
                               std::to_string(cc.padding) + " bias " + std::to_string(bias);
      const Tensor x = random_tensor({cc.n, cc.c, cc.h, cc.w}, seed++);
      const Tensor w = random_tensor({cc.o, cc.c, cc.k, cc.k}, seed++);
      const Tensor b = bias ? random_tensor({cc.o}, seed++) : Tensor();
      const int64_t ho = (cc.h + 2 * cc.padding - cc.k) / cc.stride + 1;
      const int64_t wo = (cc.w + 2 * cc.padding - cc.k) / cc.stride + 1;
      Tensor want = Tensor::empty({cc.n, cc.o, ho, wo});
      ops::conv2d(x, ops::prepare_conv2d(w, b, cc.stride, cc.padding), want);
      Tensor y = ops::empty(want.shape(), Backend::CUDA);
      const ops::ConvWeight wd = ops::prepare_conv2d(w, b, cc.stride, cc.padding, Backend::CUDA);
      ops::conv2d(on_device(x), wd, y);
      EXPECT_LE(normalised_error(y, want), 1e-5) << what;
      ops::conv2d(on_device(x), wd, y);  // the cached plan
      EXPECT_LE(normalised_error(y, want), 1e-5) << "again, " << what;
    }
}

TEST(CudaOps, Conv2dRejectsACpuWeight) {
  WL_REQUIRE_CUDA();
  const ops::ConvWeight cpu_w = ops::prepare_conv2d(random_tensor({2, 3, 3, 3}, 1600), Tensor(), 1, 1);
  const Tensor x = ops::zeros({1, 3, 5, 5}, Backend::CUDA);
  Tensor y = ops::empty({1, 2, 5, 5}, Backend::CUDA);
  EXPECT_THROW(ops::conv2d(x, cpu_w, y), Error);
}

}  // namespace
}  // namespace wl
