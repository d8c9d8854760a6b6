// The umT5 encoder on CUDA (runtime/model/umt5.h with its tensors on the
// device) against the golden fixture and its CPU twin, f32 and bf16 products.
// Skipped without a device; first run on a GPU in a user's or CI's hands.
#include <string>
#include <vector>

#include "runtime/core/safetensors.h"
#include "runtime/model/case_file.h"
#include "runtime/model/umt5.h"
#include "tests/gpu/gpu_test.h"

namespace wl {
namespace {

std::vector<float> row(const Tensor& t, int64_t p) {
  const std::vector<float> all = t.to_floats();
  const size_t n = all.size() / static_cast<size_t>(t.dim(0));
  return std::vector<float>(all.begin() + static_cast<std::ptrdiff_t>(p * n),
                            all.begin() + static_cast<std::ptrdiff_t>((p + 1) * n));
}

TEST(CudaUmt5, FixtureOnTheDeviceMatchesTheCpuTwin) {
  WL_REQUIRE_CUDA();
  const std::string dir = WL_TEST_DATA_DIR;
  const WeightMap w = WeightMap::open(dir + "/umt5_tiny.weights.safetensors");
  const SafetensorsFile c = open_float_tensors(dir + "/umt5_tiny.case.safetensors");
  const Tensor ids = c.get_f32("ids"), mask = c.get_f32("mask"), context = c.get_f32("context");
  for (auto [p, tol] : {std::pair{ops::MatmulPrecision::F32, 1e-4}, std::pair{ops::MatmulPrecision::BF16, 1e-2}}) {
    const Umt5Encoder gpu(w, p, Backend::CUDA), cpu(w, p, Backend::CPU);
    for (int64_t i = 0; i < 3; ++i) {
      const std::vector<float> r = row(ids, i), m = row(mask, i);
      const std::vector<int32_t> id(r.begin(), r.end());
      const Tensor got = gpu.encode(id, m);
      EXPECT_EQ(got.backend(), Backend::CUDA);
      const Tensor want = Tensor::from_floats(row(context, i), {512, 64});
      const double e = gpu_test::normalised_error(got, want);
      const double twin = gpu_test::normalised_error(got, cpu.encode(id, m));
      std::printf("prompt %lld %s: vs fixture %.3g, vs CPU %.3g\n", static_cast<long long>(i), ops::precision_name(p),
                  e, twin);
      EXPECT_LE(e, tol);
      EXPECT_LE(twin, tol);
    }
  }
}

}  // namespace
}  // namespace wl
