// Device allocation and copies (runtime/cuda/memory.cu) and the CPU fallback.
#include <cstring>

#include "runtime/core/error.h"
#include "tests/gpu/gpu_test.h"

namespace wl {

TEST(CudaMemory, RoundTripKeepsEveryByte) {
  WL_REQUIRE_CUDA();
  for (int64_t n : {1, 7, 1000, 65537}) {
    const Tensor h = gpu_test::random_tensor({n}, static_cast<uint32_t>(n));
    const Tensor d = ops::to_backend(h, Backend::CUDA);
    EXPECT_EQ(d.backend(), Backend::CUDA);
    Tensor d2 = ops::empty({n}, Backend::CUDA);
    ops::copy(d, d2);  // device to device
    const Tensor back = ops::to_backend(d2, Backend::CPU);
    ASSERT_EQ(0, std::memcmp(back.raw(), h.raw(), h.nbytes())) << n;
  }
}

TEST(CudaMemory, ZerosAreZero) {
  WL_REQUIRE_CUDA();
  const Tensor z = ops::to_backend(ops::zeros({3, 5, 7}, Backend::CUDA, DType::BF16), Backend::CPU);
  for (float v : z.to_floats()) ASSERT_EQ(v, 0.0f);
}

// Runs everywhere: without a device the backend says why instead of crashing.
TEST(CudaAvailability, ReasonIsGivenWhenUnavailable) {
  if (ops::backend_available(Backend::CUDA)) {
    EXPECT_TRUE(ops::backend_unavailable_reason(Backend::CUDA).empty());
  } else {
    EXPECT_FALSE(ops::backend_unavailable_reason(Backend::CUDA).empty());
    EXPECT_THROW(ops::empty({4}, Backend::CUDA), Error);
  }
}

}  // namespace wl
