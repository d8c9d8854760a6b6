// Statistics the KV cache publishes once per chunk for the overlay and the
// benchmarks. Plain, cheap-to-copy structs: nothing here refers to tensors,
// backends or policy internals, so render/ and ui/ can read them without
// knowing the model. The cache room fills them; everything else only reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wl::cache {

// What happened to one cached frame of one block during the last chunk.
enum class SlotKind : uint8_t {
  Sink,     // pinned for the whole session (attention sink)
  Kept,     // held in full (or with some tokens evicted)
  Merged,   // some of its tokens were merged with others this chunk
  Evicted,  // dropped this chunk (shown once, then gone)
};

inline const char* slot_kind_name(SlotKind k) {
  switch (k) {
    case SlotKind::Sink: return "sink";
    case SlotKind::Kept: return "kept";
    case SlotKind::Merged: return "merged";
    case SlotKind::Evicted: return "evicted";
  }
  return "?";
}

// One cell of the blocks x cached-frames grid.
struct SlotStats {
  int32_t tokens = 0;  // tokens of this frame the block still holds
  SlotKind kind = SlotKind::Kept;
};

// Per-token scores of one cached frame (as the policy computed them), laid out
// row-major over the frame's token grid. Empty when the policy has no scores.
struct TokenScoreGrid {
  int32_t rows = 0;
  int32_t cols = 0;
  std::vector<float> scores;  // rows * cols

  bool empty() const { return rows <= 0 || cols <= 0 || scores.empty(); }
};

struct CacheStats {
  std::string policy;             // "full", "window", "sink", "observed", "future", ...
  int64_t budget_tokens = 0;      // per block
  int64_t tokens_per_frame = 0;   // tokens of one latent frame (budget in frames = budget_tokens / this)
  int64_t bytes_used = 0;         // keys + values over all blocks
  int64_t bytes_budget = 0;       // 0 when unknown
  double policy_ms = 0.0;         // time the policy itself took this chunk

  int32_t blocks = 0;                 // rows of the grid
  std::vector<int64_t> frames;        // absolute latent frame index of each cached column
  std::vector<SlotStats> slots;       // blocks * frames.size(), block-major

  // Optional, per cached column (same order as `frames`); may be shorter.
  std::vector<TokenScoreGrid> token_scores;

  const SlotStats& slot(int block, size_t frame_col) const {
    return slots[static_cast<size_t>(block) * frames.size() + frame_col];
  }
  bool empty() const { return blocks == 0 || frames.empty(); }
};

}  // namespace wl::cache
