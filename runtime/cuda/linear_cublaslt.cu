// Matrix products on the device through cuBLASLt (CPU twin:
// runtime/cpu/linear_onednn.cpp).
//
// Row-major y[M, N] = x[M, K] W^T + b, with W [N, K] row-major, is in
// cuBLASLt's column-major terms D[N, M] = op(A) B with A = W seen as a
// column-major [K, N] matrix (ld K) and op(A) = A^T, B = x seen as a
// column-major [K, M] matrix (ld K), D = y seen as column-major [N, M]
// (ld N). The bias [N] is per row of D: the BIAS epilogue adds it.
//
// Precision F32: f32 inputs, CUBLAS_COMPUTE_32F (never TF32). BF16: the
// weight is stored bf16, x is rounded to bf16 on the device per call, products
// accumulate in f32 and D is f32. One handle and one 32 MiB workspace for the
// process; the descriptors and the algorithm (one heuristic query) are cached
// per shape, precision, bias and pointer alignment. Should no algorithm take
// the bias epilogue, the bias is added by a small kernel after the product.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/kernel_common.cuh"
#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {

namespace {

using namespace kernels;

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

struct LtContext {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;  // kWorkspaceBytes of device memory
};

// Created on first use, lives for the process.
LtContext& lt_context() {
  static std::once_flag once;
  static LtContext ctx;
  std::call_once(once, [] {
    WL_CUBLAS_CHECK(cublasLtCreate(&ctx.handle));
    WL_CUDA_CHECK(cudaMalloc(&ctx.workspace, kWorkspaceBytes));
  });
  return ctx;
}

// The largest power of two up to 256 that divides the address.
uint32_t alignment_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

struct PlanKey {
  int64_t m, n, k;
  MatmulPrecision precision;
  bool bias;
  uint32_t alignment;  // the least alignment of the operands' pointers
  auto tie() const { return std::tie(m, n, k, precision, bias, alignment); }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

// The descriptors of one product shape and the algorithm cuBLASLt chose for it.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool bias_in_epilogue = false;  // else linear() adds the bias with bias_rows_kernel
  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

struct PreferenceOwner {
  cublasLtMatmulPreference_t pref = nullptr;
  ~PreferenceOwner() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
  }
};

std::string shape_text(const PlanKey& key) {
  return "[" + std::to_string(key.m) + ", " + std::to_string(key.k) + "] x [" + std::to_string(key.n) + ", " +
         std::to_string(key.k) + "]^T " + ops::precision_name(key.precision) + (key.bias ? " with bias" : "") +
         ", operands aligned to " + std::to_string(key.alignment) + " bytes";
}

// The matmul descriptor: D = op(A) B in f32 (no TF32), optionally with the
// bias epilogue (`bias` is a representative pointer: the heuristic reads its
// alignment).
cublasLtMatmulDesc_t make_op(bool bias_epilogue, const void* bias) {
  cublasLtMatmulDesc_t op = nullptr;
  WL_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  try {
    const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
    WL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
    WL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
    if (bias_epilogue) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      const int32_t bias_type = CUDA_R_32F;
      WL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
      WL_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
      WL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    }
  } catch (...) {
    cublasLtMatmulDescDestroy(op);
    throw;
  }
  return op;
}

// Descriptors for `key` and one heuristic query. The bias goes into the
// epilogue when cuBLASLt offers an algorithm for it, else into a separate add.
std::unique_ptr<Plan> make_plan(const PlanKey& key, const void* bias) {
  LtContext& ctx = lt_context();
  const cudaDataType_t ab = key.precision == MatmulPrecision::BF16 ? CUDA_R_16BF : CUDA_R_32F;
  auto plan = std::make_unique<Plan>();
  WL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, ab, key.k, key.n, key.k));          // W: [K, N], ld K
  WL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, ab, key.k, key.m, key.k));          // x: [K, M], ld K
  WL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->d, CUDA_R_32F, key.n, key.m, key.n));  // y: [N, M], ld N

  PreferenceOwner pref;
  WL_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.pref));
  const uint64_t workspace = kWorkspaceBytes;
  WL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                       &workspace, sizeof(workspace)));
  for (cublasLtMatmulPreferenceAttributes_t attr :
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    WL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.pref, attr, &key.alignment, sizeof(key.alignment)));

  for (const bool epilogue : {key.bias, false}) {
    if (plan->op) cublasLtMatmulDescDestroy(plan->op);
    plan->op = make_op(epilogue, bias);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    // NOT_SUPPORTED means no algorithm fits: try without the epilogue.
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx.handle, plan->op, plan->a, plan->b, plan->d, plan->d,
                                                             pref.pref, 1, &result, &found);
    if (st != CUBLAS_STATUS_NOT_SUPPORTED) WL_CUBLAS_CHECK(st);
    if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
      plan->algo = result.algo;
      plan->bias_in_epilogue = epilogue;
      return plan;
    }
  }
  throw Error("linear: cuBLASLt offers no algorithm for " + shape_text(key));
}

// x [n] f32 -> bf16, round to nearest even (as f32_to_bf16 on the CPU).
__global__ void to_bf16_kernel(const float* x, __nv_bfloat16* out, int64_t n) {
  WL_GRID_STRIDE_LOOP(i, n) out[i] = __float2bfloat16_rn(x[i]);
}

// y [M, N] += bias [N] per row: the bias when the epilogue could not take it.
__global__ void bias_rows_kernel(float* y, const float* bias, int64_t N, int64_t n) {
  WL_GRID_STRIDE_LOOP(i, n) y[i] += bias[i % N];
}

std::mutex g_plans_mutex;
// Lives for the process (never destroyed, so no descriptor outlives cuBLASLt at exit).
auto& g_plans = *new std::map<PlanKey, std::unique_ptr<Plan>>();

Tensor upload(const Tensor& host) {
  Tensor dev = empty(host.shape(), host.dtype());
  copy(host, dev);
  return dev;
}

}  // namespace

LinearWeight prepare_linear(const Tensor& weight, const Tensor& bias, MatmulPrecision precision) {
  const int64_t n = weight.dim(0);
  const int64_t k = n > 0 ? weight.numel() / n : weight.dim(1);
  LinearWeight lw;
  lw.precision = precision;
  lw.weight = upload(weight.reshape({n, k}).to(precision == MatmulPrecision::BF16 ? DType::BF16 : DType::F32));
  if (bias.defined()) lw.bias = upload(bias.reshape({n}).to(DType::F32));
  return lw;
}

void linear(const Tensor& x, const LinearWeight& w, Tensor& y) {
  const int64_t m = x.dim(0), k = x.dim(1), n = w.out_features();
  if (m == 0 || n == 0) return;
  if (k == 0) throw Error("linear: x " + shape_str(x.shape()) + " has no input features");
  const bool bf16 = w.precision == MatmulPrecision::BF16;
  const bool has_bias = w.bias.defined();

  // B operand: x itself, or x rounded to bf16 (freed on the stream after the product).
  Tensor x_bf16;
  const void* b_ptr = x.raw();
  if (bf16) {
    x_bf16 = empty({m, k}, DType::BF16);  // [M, K]
    to_bf16_kernel<<<elementwise_blocks(m * k), kThreads, 0, stream()>>>(
        x.f32(), static_cast<__nv_bfloat16*>(x_bf16.raw()), m * k);
    WL_CUDA_CHECK_LAUNCH();
    b_ptr = x_bf16.raw();
  }
  const void* bias_ptr = has_bias ? w.bias.raw() : nullptr;
  uint32_t alignment = std::min({alignment_of(w.weight.raw()), alignment_of(b_ptr), alignment_of(y.raw())});
  if (has_bias) alignment = std::min(alignment, alignment_of(bias_ptr));

  const PlanKey key{m, n, k, w.precision, has_bias, alignment};
  LtContext& ctx = lt_context();
  const float alpha = 1.0f, beta = 0.0f;
  std::lock_guard<std::mutex> lock(g_plans_mutex);
  auto it = g_plans.find(key);
  if (it == g_plans.end()) it = g_plans.emplace(key, make_plan(key, bias_ptr)).first;
  Plan& plan = *it->second;
  if (plan.bias_in_epilogue)
    WL_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)));
  WL_CUBLAS_CHECK(cublasLtMatmul(ctx.handle, plan.op, &alpha, w.weight.raw(), plan.a, b_ptr, plan.b, &beta, y.raw(),
                                 plan.d, y.raw(), plan.d, &plan.algo, ctx.workspace, kWorkspaceBytes, stream()));
  if (has_bias && !plan.bias_in_epilogue) {
    bias_rows_kernel<<<elementwise_blocks(m * n), kThreads, 0, stream()>>>(y.f32(), w.bias.f32(), n, m * n);
    WL_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace wl::cuda
