// conv2d and upsample_nearest_2x against plain float64 loops on odd shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"

namespace wl {
namespace {

Tensor random_tensor(const Shape& shape, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = normal(rng);
  return t;
}

std::vector<double> reference_conv(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad,
                                   int64_t ho, int64_t wo) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t o = w.dim(0), kh = w.dim(2), kw = w.dim(3);
  std::vector<double> y(static_cast<size_t>(n * o * ho * wo));
  for (int64_t in = 0; in < n; ++in)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t i = 0; i < ho; ++i)
        for (int64_t j = 0; j < wo; ++j) {
          double acc = b.defined() ? b.f32()[oc] : 0.0;
          for (int64_t ic = 0; ic < c; ++ic)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t yi = i * stride - pad + p, xj = j * stride - pad + q;
                if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue;
                acc += static_cast<double>(x.f32()[((in * c + ic) * h + yi) * wd + xj]) *
                       w.f32()[((oc * c + ic) * kh + p) * kw + q];
              }
          y[((in * o + oc) * ho + i) * wo + j] = acc;
        }
  return y;
}

struct ConvCase {
  int64_t n, c, h, w, o, k;
  int stride, pad;
  bool bias;
};

TEST(ConvOps, Conv2dMatchesReferenceOnOddShapes) {
  std::mt19937 rng(17);
  const ConvCase cases[] = {
      {1, 3, 7, 9, 5, 3, 1, 1, true},  {2, 4, 16, 16, 8, 3, 2, 1, true}, {3, 5, 11, 6, 2, 3, 2, 1, false},
      {1, 1, 1, 1, 3, 3, 1, 1, true},  {2, 6, 13, 17, 7, 1, 1, 0, true}, {1, 16, 32, 32, 3, 3, 1, 1, true},
  };
  for (const ConvCase& cs : cases) {
    Tensor x = random_tensor({cs.n, cs.c, cs.h, cs.w}, rng);
    Tensor w = random_tensor({cs.o, cs.c, cs.k, cs.k}, rng);
    Tensor b = cs.bias ? random_tensor({cs.o}, rng) : Tensor();
    const int64_t ho = (cs.h + 2 * cs.pad - cs.k) / cs.stride + 1, wo = (cs.w + 2 * cs.pad - cs.k) / cs.stride + 1;
    ops::ConvWeight cw = ops::prepare_conv2d(w, b, cs.stride, cs.pad);
    Tensor y = Tensor::empty({cs.n, cs.o, ho, wo});
    ops::conv2d(x, cw, y);
    const std::vector<double> want = reference_conv(x, w, b, cs.stride, cs.pad, ho, wo);
    double max_err = 0, max_ref = 1e-30;
    for (size_t i = 0; i < want.size(); ++i) {
      max_err = std::max(max_err, std::abs(y.f32()[i] - want[i]));
      max_ref = std::max(max_ref, std::abs(want[i]));
    }
    EXPECT_LE(max_err / max_ref, 1e-5) << "n" << cs.n << " c" << cs.c << " " << cs.h << "x" << cs.w << " o" << cs.o
                                       << " k" << cs.k << " s" << cs.stride;
  }
}

TEST(ConvOps, UpsampleNearestCopiesEachPixelToA2x2Block) {
  std::mt19937 rng(3);
  Tensor x = random_tensor({2, 3, 5, 7}, rng);
  Tensor y = Tensor::empty({2, 3, 10, 14});
  ops::upsample_nearest_2x(x, y);
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t i = 0; i < 10; ++i)
      for (int64_t j = 0; j < 14; ++j)
        ASSERT_EQ(y.f32()[(p * 10 + i) * 14 + j], x.f32()[(p * 5 + i / 2) * 7 + j / 2]);
}

TEST(ConvOps, BadShapesNameTheOp) {
  Tensor x = Tensor::zeros({1, 3, 8, 8});
  ops::ConvWeight cw = ops::prepare_conv2d(Tensor::zeros({4, 2, 3, 3}), Tensor(), 1, 1);
  Tensor y = Tensor::zeros({1, 4, 8, 8});
  try {
    ops::conv2d(x, cw, y);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d"), std::string::npos) << e.what();
  }
  Tensor bad = Tensor::zeros({1, 3, 15, 16});
  EXPECT_THROW(ops::upsample_nearest_2x(x, bad), Error);
}

}  // namespace
}  // namespace wl
