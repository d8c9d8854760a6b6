// The processor-dependent parts of the CPU backend:
//  - every build of the attention kernel (portable, AVX2, AVX-512) that this
//    processor can run, called directly, against the float64 reference on
//    odd shapes: the AVX2 build is checked on an AVX-512 machine too;
//  - BF16 products mean the same everywhere: inputs rounded to bf16, products
//    accumulated in f32, whether the processor has bf16 instructions or not;
//  - the reported ISA and precision agree with what runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>


#include "runtime/cpu/attention_kernels.h"
#include "runtime/cpu/cpu_isa.h"
#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "tests/support/reference_ops.h"

namespace wl {
namespace {

using Kernel = void (*)(const cpu::AttnProblem&);
struct NamedKernel {
  const char* name;
  Kernel run;
};

// The builds of the kernel this processor can execute.
std::vector<NamedKernel> runnable_kernels() {
  std::vector<NamedKernel> k{{"portable", cpu::attention_portable}};
  __builtin_cpu_init();
#if WL_KERNELS_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) k.push_back({"avx2", cpu::attention_avx2});
#endif
#if WL_KERNELS_AVX512
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    k.push_back({"avx512", cpu::attention_avx512});
#endif
  return k;
}

TEST(CpuIsa, EveryAttentionKernelMatchesTheReferenceOnOddShapes) {
  const auto kernels = runnable_kernels();
  std::printf("[ cpu-isa   ] attention kernels checked:");
  for (const auto& k : kernels) std::printf(" %s", k.name);
  std::printf(" (in use: %s)\n", cpu::kernel_isa_name(cpu::kernel_isa()));
  std::mt19937 g(23);
  struct Case {
    int64_t Lq, H, d;
    std::vector<int64_t> lens;
    bool bias;
    float logit_scale;
  };
  const std::vector<Case> cases = {
      {1, 1, 2, {1}, false, 1.0f},          {7, 2, 6, {13}, true, 1.0f},
      {33, 5, 18, {65, 0, 7}, true, 1.0f},  {70, 1, 64, {0, 130, 1, 64}, false, 1.0f},
      {19, 3, 16, {3, 0}, true, 1.0f},      {21, 2, 64, {50, 70, 3}, true, 12.0f},
      {64, 3, 64, {448}, false, 1.0f},      {131, 3, 128, {257}, false, 1.0f},
      {300, 4, 64, {150, 0, 90}, true, 1.0f}, {5, 7, 5, {9, 2}, true, 1.0f},
  };
  for (const Case& c : cases) {
    std::vector<Tensor> keep;
    std::vector<ops::KVSegment> segs;
    for (int64_t len : c.lens) {
      keep.push_back(ref::uniform({len, c.H, c.d}, g));
      keep.push_back(ref::uniform({len, c.H, c.d}, g));
      keep.push_back(ref::uniform({len}, g, -3.0f, 1.0f));
      const size_t n = keep.size();
      segs.push_back({keep[n - 3].f32(), keep[n - 2].f32(), c.bias ? keep[n - 1].f32() : nullptr, len});
    }
    Tensor q = ref::uniform({c.Lq, c.H, c.d}, g);
    const float scale = c.logit_scale / std::sqrt(static_cast<float>(c.d));
    const auto want = ref::attention(q, segs, scale);
    const int64_t ld = c.H * c.d;
    std::vector<cpu::AttnChunk> chunks;
    for (const auto& s : segs)
      for (int64_t j0 = 0; j0 < s.len; j0 += cpu::kAttnChunkKeys)
        chunks.push_back({s.k + j0 * ld, s.v + j0 * ld, s.bias ? s.bias + j0 : nullptr,
                          static_cast<int>(std::min<int64_t>(cpu::kAttnChunkKeys, s.len - j0))});
    for (const auto& k : kernels)
      for (int threads : {1, 2, 3}) {  // named: ctest gives each test one OpenMP thread
        Tensor out = Tensor::empty({c.Lq, c.H, c.d});
        k.run({q.f32(), c.Lq, c.H, c.d, chunks.data(), static_cast<int64_t>(chunks.size()), scale, threads,
               out.f32()});
        EXPECT_LE(ref::normalised_error(out, want), 1e-5)
            << k.name << " threads " << threads << " Lq " << c.Lq << " H " << c.H << " d " << c.d;
      }
  }
}

float to_bf16_and_back(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// y = x W^T + b in float64 on the bf16-rounded x and W: what a bf16 product
// with exact accumulation gives.
std::vector<double> bf16_product_reference(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  std::vector<double> y(static_cast<size_t>(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = b.defined() ? b.f32()[n] : 0.0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(to_bf16_and_back(x.f32()[m * K + k])) * to_bf16_and_back(w.f32()[n * K + k]);
      y[static_cast<size_t>(m * N + n)] = acc;
    }
  return y;
}

// On every processor (and under DNNL_MAX_CPU_ISA=AVX2) a BF16 product is a
// product of bf16-rounded operands accumulated in f32: within f32 summation
// error of that, and measurably away from the f32 product. A BF16 mode that
// silently ran in f32, or rounded only one operand, fails here.
TEST(CpuIsa, Bf16ProductsAreBf16ProductsAccumulatedInF32Everywhere) {
  std::printf("[ cpu-isa   ] %s\n", ops::describe_cpu(ops::MatmulPrecision::BF16).c_str());
  std::mt19937 g(31);
  struct Shape3 {
    int64_t m, k, n;
    bool bias;
  };
  for (const Shape3 s : {Shape3{1, 3, 5, true}, Shape3{7, 19, 33, false}, Shape3{64, 192, 192, true},
                         Shape3{257, 130, 71, true}, Shape3{256, 768, 192, false}, Shape3{33, 1000, 17, true}}) {
    Tensor x = ref::uniform({s.m, s.k}, g), w = ref::uniform({s.n, s.k}, g, -0.5f, 0.5f);
    Tensor b = s.bias ? ref::uniform({s.n}, g) : Tensor();
    const auto want = bf16_product_reference(x, w, b);
    const std::string what = "M " + std::to_string(s.m) + " K " + std::to_string(s.k) + " N " + std::to_string(s.n);

    ops::LinearWeight lw = ops::prepare_linear(w, b, ops::MatmulPrecision::BF16);
    EXPECT_EQ(lw.weight.dtype(), DType::BF16) << what;
    Tensor y = Tensor::empty({s.m, s.n});
    ops::linear(x, lw, y);
    EXPECT_LE(ref::normalised_error(y, want), 2e-6) << "bf16 " << what;

    // The f32 product of the same inputs is further away than rounding the
    // sums could explain (K >= 19: enough products for bf16 rounding to show).
    ops::LinearWeight lw32 = ops::prepare_linear(w, b, ops::MatmulPrecision::F32);
    Tensor y32 = Tensor::empty({s.m, s.n});
    ops::linear(x, lw32, y32);
    if (s.k >= 19) {
      EXPECT_GE(ref::normalised_error(y32, want), 1e-4) << "f32 " << what;
    }
  }
}

TEST(CpuIsa, ReportedIsaMatchesWhatRuns) {
  const ops::CpuInfo c = ops::cpu_info();
  EXPECT_FALSE(c.onednn_isa.empty());
  EXPECT_NE(c.onednn_isa, "unknown");
  EXPECT_EQ(c.onednn_isa, cpu::onednn_isa_name());
  EXPECT_EQ(c.native_bf16, c.onednn_isa == "avx512_core_bf16" || c.onednn_isa == "avx512_core_amx");
  // Under oneDNN's cap the own kernels are capped too.
  if (const char* cap = std::getenv("DNNL_MAX_CPU_ISA"); cap && std::string(cap) == "AVX2") {
    EXPECT_EQ(c.onednn_isa, "avx2");
    EXPECT_EQ(c.kernels, cpu::kAttentionAvx2Built ? "avx2" : "portable");
    EXPECT_FALSE(c.native_bf16);
  }
  const std::string line = ops::describe_cpu(ops::MatmulPrecision::BF16);
  EXPECT_NE(line.find(c.onednn_isa), std::string::npos) << line;
  EXPECT_NE(line.find(c.native_bf16 ? "native" : "emulated"), std::string::npos) << line;
}

TEST(CpuIsa, PrecisionFlagTakesAutoF32Bf16AndNamesBadValues) {
  EXPECT_EQ(ops::parse_precision("f32"), ops::MatmulPrecision::F32);
  EXPECT_EQ(ops::parse_precision("bf16"), ops::MatmulPrecision::BF16);
  EXPECT_EQ(ops::parse_precision("auto"), ops::best_matmul_precision());
  try {
    ops::parse_precision("fp8", "--precision");
    FAIL() << "fp8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--precision"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fp8"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wl
