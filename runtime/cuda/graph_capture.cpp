// CUDA graph capture and replay on the model stream (see graph_capture.h).
#include "runtime/cuda/graph_capture.h"

#include <cuda_runtime.h>

#include <string>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {

std::shared_ptr<CapturedGraph> CapturedGraph::capture(const std::function<void()>& work) {
  cudaStream_t s = stream();
  // Relaxed: a library that allocates lazily with cudaMalloc (not queued on
  // the stream) does not break the recording.
  WL_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
  std::string failure;
  try {
    work();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(s, &graph);  // always leaves capture mode
  if (end != cudaSuccess && failure.empty()) failure = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(end);
  if (!failure.empty()) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();  // the capture's error is not the next call's
    throw Error("CUDA graph capture failed: " + failure);
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);  // the executable graph keeps what it needs
  if (inst != cudaSuccess) {
    cudaGetLastError();
    throw Error(std::string("CUDA graph capture failed: cudaGraphInstantiate: ") + cudaGetErrorString(inst));
  }
  std::shared_ptr<CapturedGraph> g(new CapturedGraph());
  g->exec_ = exec;
  return g;
}

CapturedGraph::~CapturedGraph() {
  // An executable graph still running is freed when it completes.
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
}

void CapturedGraph::launch() const { WL_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), stream())); }

}  // namespace wl::cuda
