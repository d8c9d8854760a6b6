// CUDA graphs on the model stream (cuda::stream()): capture() records the
// work a function queues there (nothing runs while it is recorded) and
// launch() replays it. Plain types only, like ops_cuda.h.
//
// A recording fails (wl::Error) when the function does something a graph
// cannot hold: a host synchronisation, a copy from pageable host memory, a
// blocking allocation in a strict mode. The stream leaves capture mode in
// every case, so the caller can run the function eagerly instead.
#pragma once
#include <functional>
#include <memory>

namespace wl::cuda {

class CapturedGraph {
 public:
  // Records what `work` queues on stream(); throws wl::Error naming the
  // reason when the capture fails (the error `work` threw, or CUDA's).
  static std::shared_ptr<CapturedGraph> capture(const std::function<void()>& work);
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // Queues the recorded work on stream() (returns without waiting).
  void launch() const;

 private:
  CapturedGraph() = default;
  void* exec_ = nullptr;  // cudaGraphExec_t
};

}  // namespace wl::cuda
