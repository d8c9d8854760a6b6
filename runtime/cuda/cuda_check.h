// Error checks for CUDA runtime, cuBLASLt and cuDNN calls: a failed call
// throws wl::Error naming the call, the file:line and the library's message.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn_graph.h>

#include <string>

#include "runtime/core/error.h"

namespace wl::cuda::detail {

[[noreturn]] inline void throw_cuda(const char* what, const char* msg, const char* file, int line) {
  throw Error(std::string("CUDA: ") + what + " failed: " + msg + " (" + file + ":" + std::to_string(line) + ")");
}

}  // namespace wl::cuda::detail

#define WL_CUDA_CHECK(call)                                                                          \
  do {                                                                                               \
    const cudaError_t wl_err_ = (call);                                                              \
    if (wl_err_ != cudaSuccess) {                                                                    \
      cudaGetLastError();                                                                            \
      ::wl::cuda::detail::throw_cuda(#call, cudaGetErrorString(wl_err_), __FILE__, __LINE__);        \
    }                                                                                                \
  } while (0)

// After a kernel launch: launch errors (bad configuration) surface here.
#define WL_CUDA_CHECK_LAUNCH() WL_CUDA_CHECK(cudaGetLastError())

// cuBLASLt calls (cublasStatus_t).
#define WL_CUBLAS_CHECK(call)                                                                        \
  do {                                                                                               \
    const cublasStatus_t wl_st_ = (call);                                                            \
    if (wl_st_ != CUBLAS_STATUS_SUCCESS)                                                             \
      ::wl::cuda::detail::throw_cuda(#call,                                                          \
                                     (std::string(cublasLtGetStatusName(wl_st_)) + ": " +            \
                                      cublasLtGetStatusString(wl_st_)).c_str(),                      \
                                     __FILE__, __LINE__);                                            \
  } while (0)

// cuDNN calls (cudnnStatus_t) that must succeed (graph building that may
// legitimately fail checks its status itself).
#define WL_CUDNN_CHECK(call)                                                                         \
  do {                                                                                               \
    const cudnnStatus_t wl_st_ = (call);                                                             \
    if (wl_st_ != CUDNN_STATUS_SUCCESS)                                                              \
      ::wl::cuda::detail::throw_cuda(#call, cudnnGetErrorString(wl_st_), __FILE__, __LINE__);        \
  } while (0)
