// The KV store of the causal DiT: per block, keys and values of cached latent
// frames, one slot per frame (a slot map, never a shift: eviction frees a slot).
//
// Reference semantics (DESIGN 2.3): a call for frames [s, s+f) writes into the
// slots of those frames, overwriting what an earlier call for the same frames
// wrote; frames past the newest cached one are new and, when they do not fit,
// the oldest non-sink frames are evicted; the first `sink_frames` frames ever
// cached stay. Keys are kept twice: before RoPE (`k_raw`, for re-positioning and
// scoring) and rotated at their absolute frame (`k_rot`, what attention reads).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/ops.h"

namespace wl {

struct KvCacheConfig {
  int64_t blocks = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;
  int64_t tokens_per_frame = 0;
  int64_t capacity_frames = 0;       // slots per block
  int64_t sink_frames = 0;           // the first frames ever cached, never evicted
  int64_t max_attention_tokens = 0;  // attention reads at most this many newest tokens (0: all)
};

class KvCache {
 public:
  explicit KvCache(const KvCacheConfig& config);

  const KvCacheConfig& config() const { return config_; }

  // Makes slots ready for a call on frames [start, start+count): cached frames
  // are reused, new frames get slots, evicting the oldest non-sink frames when
  // full. Throws wl::Error for calls the reference cannot express (a chunk
  // larger than the capacity, a gap after the newest frame, an evicted frame).
  void begin_call(int64_t start_frame, int64_t count);

  // Rows [tokens_per_frame, heads, head_dim] of a cached frame in one block.
  float* k_raw(int64_t block, int64_t frame);
  float* k_rot(int64_t block, int64_t frame);
  float* v(int64_t block, int64_t frame);

  // What one block's attention reads for a call ending at `end_frame`: every
  // cached frame below it, oldest first, trimmed to max_attention_tokens.
  std::vector<ops::KVSegment> segments(int64_t block, int64_t end_frame) const;

  // Cached frames, oldest first.
  std::vector<int64_t> cached_frames() const;
  bool has_frame(int64_t frame) const;
  // Frames dropped by the last begin_call (for statistics).
  const std::vector<int64_t>& evicted_last_call() const { return evicted_; }
  int64_t bytes() const;

  void clear();

 private:
  int64_t slot_of(int64_t frame) const;  // -1 when absent
  int64_t frame_floats() const { return config_.tokens_per_frame * config_.heads * config_.head_dim; }
  float* slot_ptr(const std::vector<float>& store, int64_t block, int64_t slot) const;

  KvCacheConfig config_;
  std::vector<float> k_raw_, k_rot_, v_;  // [blocks, capacity, tokens, heads, head_dim]
  // Cached frames oldest first, and the slot each one holds.
  std::vector<int64_t> frames_;
  std::vector<int64_t> frame_slot_;
  std::vector<int64_t> free_slots_;
  std::vector<int64_t> evicted_;
};

}  // namespace wl
