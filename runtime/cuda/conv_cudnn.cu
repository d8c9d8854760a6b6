// 2D convolutions on the device through cuDNN's convolution API (CPU twin:
// runtime/cpu/conv_onednn.cpp): F32 NCHW, zero padding, stride.
//
// The math stays f32 (CUDNN_FMA_MATH: no TF32) and the algorithm is one of
// the GEMM forms, whose sums round like a direct convolution (FFT and Winograd
// transforms are left out: they round differently). The algorithm is picked
// once per shape from cuDNN's heuristic and cached with its workspace size;
// one workspace, grown on the stream as needed, serves every shape. The bias
// is added after the convolution.
#include <cudnn.h>

#include <climits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {

namespace {

// Created on first use, bound to stream(), lives for the process.
cudnnHandle_t cudnn_handle() {
  static std::once_flag once;
  static cudnnHandle_t handle = nullptr;
  std::call_once(once, [] {
    WL_CUDNN_CHECK(cudnnCreate(&handle));
    WL_CUDNN_CHECK(cudnnSetStream(handle, stream()));
  });
  return handle;
}

struct ConvKey {
  int n, c, h, w, o, kh, kw, stride, padding;
  auto tie() const { return std::tie(n, c, h, w, o, kh, kw, stride, padding); }
  bool operator<(const ConvKey& other) const { return tie() < other.tie(); }
};

// The descriptors of one convolution shape, its algorithm and workspace size.
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace_bytes = 0;
  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
};

// Algorithms whose results round like the CPU's direct convolution.
bool exact_algorithm(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}

std::string key_text(const ConvKey& k) {
  return "x [" + std::to_string(k.n) + ", " + std::to_string(k.c) + ", " + std::to_string(k.h) + ", " +
         std::to_string(k.w) + "], weight [" + std::to_string(k.o) + ", " + std::to_string(k.c) + ", " +
         std::to_string(k.kh) + ", " + std::to_string(k.kw) + "], stride " + std::to_string(k.stride) +
         ", padding " + std::to_string(k.padding);
}

std::unique_ptr<ConvPlan> make_plan(const ConvKey& k, int ho, int wo) {
  cudnnHandle_t handle = cudnn_handle();
  auto plan = std::make_unique<ConvPlan>();
  WL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
  WL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k.n, k.c, k.h, k.w));
  WL_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
  WL_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k.o, k.c, k.kh, k.kw));
  WL_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
  WL_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, k.padding, k.padding, k.stride, k.stride, 1, 1,
                                                 CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  WL_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, CUDNN_FMA_MATH));
  int dims[4] = {};
  WL_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &dims[0], &dims[1], &dims[2],
                                                       &dims[3]));
  if (dims[0] != k.n || dims[1] != k.o || dims[2] != ho || dims[3] != wo)
    throw Error("conv2d: cuDNN's output [" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) + ", " +
                std::to_string(dims[2]) + ", " + std::to_string(dims[3]) + "] differs from y for " + key_text(k));
  WL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
  WL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k.n, k.o, ho, wo));
  WL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->bias));
  WL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, k.o, 1, 1));

  // cuDNN's ranking, best first; the first exact, non-tensor-core algorithm
  // that takes this shape wins. Implicit GEMM takes every shape.
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  WL_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, plan->x, plan->w, plan->conv, plan->y,
                                                        CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
  for (int i = 0; i < returned; ++i) {
    const cudnnConvolutionFwdAlgoPerf_t& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || !exact_algorithm(p.algo)) continue;
    if (p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
    size_t bytes = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(handle, plan->x, plan->w, plan->conv, plan->y, p.algo, &bytes) !=
        CUDNN_STATUS_SUCCESS)
      continue;
    plan->algo = p.algo;
    plan->workspace_bytes = bytes;
    return plan;
  }
  plan->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  WL_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, plan->x, plan->w, plan->conv, plan->y, plan->algo,
                                                         &plan->workspace_bytes));
  return plan;
}

std::mutex g_conv_mutex;
// Live for the process (never destroyed, so nothing outlives cuDNN at exit).
auto& g_plans = *new std::map<ConvKey, std::unique_ptr<ConvPlan>>();
void* g_workspace = nullptr;
size_t g_workspace_bytes = 0;

// The shared workspace with at least `bytes`; the old one is freed on the
// stream, after the convolutions queued before that still use it.
void* workspace(size_t bytes) {
  if (bytes > g_workspace_bytes) {
    if (g_workspace) WL_CUDA_CHECK(cudaFreeAsync(g_workspace, stream()));
    g_workspace = nullptr;
    g_workspace_bytes = 0;
    WL_CUDA_CHECK(cudaMallocAsync(&g_workspace, bytes, stream()));
    g_workspace_bytes = bytes;
  }
  return g_workspace;
}

int as_int(int64_t v, const char* what) {
  if (v > INT_MAX) throw Error(std::string("conv2d: ") + what + " " + std::to_string(v) + " exceeds cuDNN's int sizes");
  return static_cast<int>(v);
}

Tensor upload(const Tensor& host) {
  Tensor dev = empty(host.shape(), host.dtype());
  copy(host, dev);
  return dev;
}

}  // namespace

ConvWeight prepare_conv2d(const Tensor& weight, const Tensor& bias, int stride, int padding) {
  ConvWeight cw;
  cw.weight = upload(weight.to(DType::F32));
  if (bias.defined()) cw.bias = upload(bias.to(DType::F32));
  cw.stride = stride;
  cw.padding = padding;
  return cw;
}

void conv2d(const Tensor& x, const ConvWeight& w, Tensor& y) {
  if (w.weight.backend() != Backend::CUDA || (w.bias.defined() && w.bias.backend() != Backend::CUDA))
    throw Error("conv2d: the weight was prepared for the CPU; prepare it on Backend::CUDA");
  if (y.numel() == 0) return;
  const ConvKey key{as_int(x.dim(0), "batch"),         as_int(x.dim(1), "channels"),      as_int(x.dim(2), "height"),
                    as_int(x.dim(3), "width"),         as_int(w.weight.dim(0), "outputs"), as_int(w.weight.dim(2), "kernel"),
                    as_int(w.weight.dim(3), "kernel"), w.stride,                           w.padding};
  cudnnHandle_t handle = cudnn_handle();
  const float one = 1.0f, zero = 0.0f;
  std::lock_guard<std::mutex> lock(g_conv_mutex);
  auto it = g_plans.find(key);
  if (it == g_plans.end())
    it = g_plans.emplace(key, make_plan(key, as_int(y.dim(2), "height"), as_int(y.dim(3), "width"))).first;
  const ConvPlan& plan = *it->second;
  void* ws = workspace(plan.workspace_bytes);
  WL_CUDNN_CHECK(cudnnConvolutionForward(handle, &one, plan.x, x.raw(), plan.w, w.weight.raw(), plan.conv, plan.algo,
                                         ws, plan.workspace_bytes, &zero, plan.y, y.raw()));
  if (w.bias.defined())
    WL_CUDNN_CHECK(cudnnAddTensor(handle, &one, plan.bias, w.bias.raw(), &one, plan.y, y.raw()));
}

}  // namespace wl::cuda
