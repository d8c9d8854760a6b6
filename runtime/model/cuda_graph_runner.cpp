#include "runtime/model/cuda_graph_runner.h"

#include <algorithm>
#include <cstdio>

#include "runtime/core/error.h"
#ifdef WORLDLOOP_HAS_CUDA
#include "runtime/cuda/graph_capture.h"
#endif

namespace wl {

CudaGraphRunner::CudaGraphRunner(bool enabled) {
#ifdef WORLDLOOP_HAS_CUDA
  enabled_ = enabled;
#else
  enabled_ = false;
  (void)enabled;
#endif
}

void CudaGraphRunner::clear() { pieces_.clear(); }

void CudaGraphRunner::disable(const std::string& reason) {
  std::fprintf(stderr, "worldloop: %s; running the model's launches eagerly\n", reason.c_str());
  enabled_ = false;
  stats_.disabled_reason = reason;
  pieces_.clear();
}

CudaGraphRunner::Entry& CudaGraphRunner::entry_for(int piece, const std::vector<int64_t>& signature) {
  if (static_cast<size_t>(piece) >= pieces_.size()) pieces_.resize(static_cast<size_t>(piece) + 1);
  std::vector<Entry>& entries = pieces_[static_cast<size_t>(piece)];
  for (Entry& e : entries)
    if (e.signature == signature) return e;
  if (entries.size() >= kEntriesPerPiece) {
    auto oldest = std::min_element(entries.begin(), entries.end(),
                                   [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
    entries.erase(oldest);
  }
  entries.push_back(Entry{signature, 0, 0, nullptr});
  return entries.back();
}

void CudaGraphRunner::run(int piece, const std::vector<int64_t>& signature, const std::function<void()>& work) {
  if (!enabled_) {
    ++stats_.eager;
    work();
    return;
  }
#ifdef WORLDLOOP_HAS_CUDA
  Entry& e = entry_for(piece, signature);
  e.last_use = ++clock_;
  ++e.runs;
  if (e.runs == 1) {  // first sight: eager, so lazy library set-up happens outside a capture
    ++stats_.eager;
    work();
    return;
  }
  const bool first_launch = !e.graph;
  try {
    if (first_launch) e.graph = cuda::CapturedGraph::capture(work);
    e.graph->launch();
  } catch (const Error& err) {
    // Nothing of a failed capture or launch was queued: the work runs eagerly.
    disable(err.what());  // drops `e`
    ++stats_.eager;
    work();
    return;
  }
  if (first_launch) ++stats_.captured;
  else ++stats_.replayed;
#else
  (void)piece;
  (void)signature;
#endif
}

}  // namespace wl
