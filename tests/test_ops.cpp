// What the op table (tests/backend_ops/, every op against its float64
// reference on every backend, and the shape and dtype refusals) cannot say:
// tensors that claim a backend this process cannot use, and the precision
// names.
#include <gtest/gtest.h>

#include <string>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"

namespace wl {
namespace {

// Runs f, expects a wl::Error whose message contains `op`.
template <class F>
void expect_error(const std::string& op, F&& f) {
  try {
    f();
    ADD_FAILURE() << op << ": no error thrown";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
  }
}

TEST(Ops, CudaTensorsAreRefusedWithoutCuda) {
  Tensor a = Tensor::zeros({3, 64});
  // A CUDA tensor: the CUDA backend is not built.
  Tensor cu = Tensor::view(a.raw(), a.shape(), DType::F32, nullptr, Backend::CUDA);
  expect_error("add", [&] { ops::add(cu, cu); });
  expect_error("add", [&] { ops::add(a, cu); });
}

TEST(Ops, PrecisionName) {
  EXPECT_STREQ(ops::precision_name(ops::MatmulPrecision::F32), "F32");
  EXPECT_STREQ(ops::precision_name(ops::MatmulPrecision::BF16), "BF16");
}

}  // namespace
}  // namespace wl
