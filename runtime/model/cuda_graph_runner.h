// Replays the repeated device work of the model's forward calls as CUDA graphs.
//
// A forward call is cut into pieces at the points where the KV cache does its
// host bookkeeping (write_call, observe, segments run eagerly between pieces).
// Each piece is identified by its index and a signature: every value that
// changes its launch sequence or the pointers it reads (frames, latent size,
// start frame, the prompt, the workspace, the cache segments it attends to).
// The first time a (piece, signature) runs it runs eagerly (libraries finish
// their lazy set-up outside any capture), the second time it is captured and
// launched, after that it is replayed. The 4 denoising steps and the clean
// pass of a chunk share frames, start frame and cache layout, so 3 of the 5
// calls are replays.
//
// If a capture fails (an op synchronised or allocated in a way a graph cannot
// hold) the runner logs one line and runs everything eagerly from then on.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace wl {

namespace cuda {
class CapturedGraph;
}

class CudaGraphRunner {
 public:
  struct Stats {
    int64_t eager = 0;     // pieces run without a graph
    int64_t captured = 0;  // graphs recorded
    int64_t replayed = 0;  // launches of a recorded graph after the one that recorded it
    std::string disabled_reason;  // why graphs were turned off (empty: they are on, or never were)
  };

  // `enabled` false (or a build without CUDA): run() only calls its work.
  explicit CudaGraphRunner(bool enabled);

  bool enabled() const { return enabled_; }
  const Stats& stats() const { return stats_; }

  // Runs `work` (which only queues device work on the CUDA stream) for piece
  // `piece` with `signature`, eagerly, by capture or by replay (see above).
  void run(int piece, const std::vector<int64_t>& signature, const std::function<void()>& work);

  // Forgets every recorded graph (the memory they read is about to change).
  void clear();

 private:
  struct Entry {
    std::vector<int64_t> signature;
    int runs = 0;                                // times this signature ran
    uint64_t last_use = 0;                       // for dropping the least recently used
    std::shared_ptr<cuda::CapturedGraph> graph;  // after the second run
  };
  // Graphs kept per piece: enough for calls that alternate between a few
  // shapes (a rolling window call and its clean pass).
  static constexpr size_t kEntriesPerPiece = 4;

  Entry& entry_for(int piece, const std::vector<int64_t>& signature);
  void disable(const std::string& reason);

  bool enabled_;
  Stats stats_;
  uint64_t clock_ = 0;
  std::vector<std::vector<Entry>> pieces_;
};

}  // namespace wl
