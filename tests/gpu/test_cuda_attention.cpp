// cuda::attention (runtime/cuda/attention*.cu) against the CPU's
// ops::attention on the same inputs: random odd shapes (1 to 300 queries,
// keys split into 1 to 3 segments of odd lengths including 1, 1 to 3 heads,
// head widths 2, 64 and 128), with and without a per-key bias of log-count
// size. F32 runs the flash kernel and must agree to 1e-5; BF16 runs cuDNN's
// SDPA where it takes the shape and must agree to 2e-2.
#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "tests/gpu/gpu_test.h"

namespace wl {

namespace {

using ops::MatmulPrecision;

constexpr double kTolF32 = 1e-5;
constexpr double kTolBF16 = 2e-2;

struct Case {
  int64_t Lq, H, d;
  std::vector<int64_t> lens;  // keys per segment
  bool bias = false;
  float logit_scale = 1.0f;  // scale = logit_scale / sqrt(d)
  int bias_every = 1;        // with bias: on segments 0, n, 2n, ...
};

std::string describe(const Case& c) {
  std::ostringstream s;
  s << "Lq " << c.Lq << " H " << c.H << " d " << c.d << " segments";
  for (int64_t n : c.lens) s << " " << n;
  if (c.bias) s << " bias on every " << c.bias_every << " segment(s)";
  s << " logit scale x" << c.logit_scale;
  return s.str();
}

// |cuda - cpu| / |cpu| of ops::attention on random inputs for the case.
double cuda_vs_cpu(const Case& c, MatmulPrecision precision, uint32_t seed) {
  std::vector<Tensor> keep;  // host and device copies of every segment
  std::vector<ops::KVSegment> host, dev;
  for (size_t s = 0; s < c.lens.size(); ++s) {
    const int64_t len = c.lens[s];
    const bool biased = c.bias && s % static_cast<size_t>(c.bias_every) == 0;
    const Tensor k = gpu_test::random_tensor({len, c.H, c.d}, seed++);
    const Tensor v = gpu_test::random_tensor({len, c.H, c.d}, seed++);
    const Tensor b = gpu_test::random_tensor({len}, seed++, 0.0f, 8.0f);  // log counts up to ~3000
    const Tensor dk = ops::to_backend(k, Backend::CUDA), dv = ops::to_backend(v, Backend::CUDA),
                 db = ops::to_backend(b, Backend::CUDA);
    keep.insert(keep.end(), {k, v, b, dk, dv, db});
    host.push_back({k.f32(), v.f32(), biased ? b.f32() : nullptr, len});
    dev.push_back({dk.f32(), dv.f32(), biased ? db.f32() : nullptr, len});
  }
  const Tensor q = gpu_test::random_tensor({c.Lq, c.H, c.d}, seed++);
  const float scale = c.logit_scale / std::sqrt(static_cast<float>(c.d));

  Tensor want = Tensor::empty({c.Lq, c.H, c.d});
  ops::attention(q, host, scale, want);
  const Tensor dq = ops::to_backend(q, Backend::CUDA);
  Tensor got = ops::empty({c.Lq, c.H, c.d}, Backend::CUDA);
  ops::attention(dq, dev, scale, got, precision);
  return gpu_test::normalised_error(got, want);
}

// Lq 1..300, 1-3 heads, d in {2, 64, 128}, 1-3 segments of odd lengths (a
// quarter of them 1 key), bias on every other case.
std::vector<Case> random_cases(uint32_t seed, int n) {
  std::mt19937 g(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  const int64_t widths[] = {2, 64, 128};
  std::vector<Case> cases;
  for (int i = 0; i < n; ++i) {
    Case c{pick(1, 300), pick(1, 3), widths[pick(0, 2)], {}, i % 2 == 1};
    const int segments = pick(1, 3);
    for (int s = 0; s < segments; ++s) c.lens.push_back(pick(0, 3) == 0 ? 1 : 2 * pick(0, 200) + 1);
    cases.push_back(c);
  }
  return cases;
}

// Sets an environment variable for the scope, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

}  // namespace

TEST(CudaAttention, MatchesCpuOnRandomShapesF32) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 100;
  for (const Case& c : random_cases(1, 40))
    EXPECT_LE(cuda_vs_cpu(c, MatmulPrecision::F32, seed += 50), kTolF32) << describe(c);
}

TEST(CudaAttention, MatchesCpuOnRandomShapesBF16) {
  WL_REQUIRE_CUDA();
  uint32_t seed = 200;
  for (const Case& c : random_cases(2, 40))
    EXPECT_LE(cuda_vs_cpu(c, MatmulPrecision::BF16, seed += 50), kTolBF16) << describe(c);
}

// Widths beside the three above: every flash bucket (32, 64, 128, 256) with a
// width below its top, widths cuDNN does not take (not a multiple of 8), large
// logits (the online max must rescale), an empty segment.
TEST(CudaAttention, MatchesCpuOnOtherWidthsAndLargeLogits) {
  WL_REQUIRE_CUDA();
  const std::vector<Case> cases = {
      {33, 2, 6, {17, 5}, true},       {65, 1, 40, {129}, false},        {70, 3, 96, {1, 63, 64}, true},
      {31, 2, 200, {45, 2}, false},    {64, 2, 256, {33, 31}, true},     {21, 2, 64, {51, 71, 3}, true, 12.0f},
      {5, 3, 128, {0, 77, 0}, false},  {129, 1, 128, {64, 64, 1}, false},
  };
  uint32_t seed = 300;
  for (const Case& c : cases) {
    EXPECT_LE(cuda_vs_cpu(c, MatmulPrecision::F32, seed += 50), kTolF32) << describe(c);
    if (c.logit_scale == 1.0f) {  // bf16 products are too coarse for 12x logits
      EXPECT_LE(cuda_vs_cpu(c, MatmulPrecision::BF16, seed += 50), kTolBF16) << describe(c);
    }
  }
}

// WORLDLOOP_ATTENTION=flash: BF16 calls run the f32 flash kernel, so they agree
// with the CPU as closely as F32 ones (cuDNN's bf16 products would not).
TEST(CudaAttention, ForcedFlashInBf16IsF32Exact) {
  WL_REQUIRE_CUDA();
  const ScopedEnv env("WORLDLOOP_ATTENTION", "flash");
  uint32_t seed = 400;
  for (const Case& c : std::vector<Case>{{150, 2, 128, {301, 1, 77}, false}, {41, 3, 64, {99}, true}})
    EXPECT_LE(cuda_vs_cpu(c, MatmulPrecision::BF16, seed += 50), kTolF32) << describe(c);
}

TEST(CudaAttention, UnknownAttentionChoiceIsAnError) {
  WL_REQUIRE_CUDA();
  const ScopedEnv env("WORLDLOOP_ATTENTION", "fastest");
  EXPECT_THROW(cuda_vs_cpu({3, 1, 64, {5}, false}, MatmulPrecision::BF16, 1), Error);
}

// About 5000 keys in three segments, as a cache of a few frames.
TEST(CudaAttention, FiveThousandKeys) {
  WL_REQUIRE_CUDA();
  const Case c{97, 2, 128, {3001, 1, 1999}, false};
  EXPECT_LE(cuda_vs_cpu(c, MatmulPrecision::F32, 500), kTolF32) << describe(c);
  EXPECT_LE(cuda_vs_cpu(c, MatmulPrecision::BF16, 600), kTolBF16) << describe(c);
  const Case biased{97, 2, 128, {3001, 1, 1999}, true};
  EXPECT_LE(cuda_vs_cpu(biased, MatmulPrecision::F32, 700), kTolF32) << describe(biased);
}

// More segments than the flash kernel takes as parameters (32): they are
// gathered into one first. Some empty, some without the bias others have.
TEST(CudaAttention, ManySegmentsAreGathered) {
  WL_REQUIRE_CUDA();
  Case c{45, 2, 64, {}, true, 1.0f, 2};
  for (int i = 0; i < 40; ++i) c.lens.push_back(i % 7 == 3 ? 0 : 1 + (i * 13) % 29);
  EXPECT_LE(cuda_vs_cpu(c, MatmulPrecision::F32, 800), kTolF32) << describe(c);
  c.bias = false;
  EXPECT_LE(cuda_vs_cpu(c, MatmulPrecision::BF16, 900), kTolBF16) << describe(c);
}

}  // namespace wl
