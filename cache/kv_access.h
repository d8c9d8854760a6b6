// What one forward call of the model needs from a KV cache, whatever its
// position scheme: the model computes keys and values for the call's tokens,
// hands them over, and attends to whatever segments the cache returns.
//
//   KvStore            the reference scheme: every key RoPE'd at its absolute
//                      frame, attention over all cached frames up to the call's end
//   RollingWindowKv    Rolling Forcing: the window's first chunk is cached, the
//                      sink re-positioned next to the window (docs/model.md §4)
//
// Every pointer in and out lives where the cache keeps its keys and values
// (KvStoreConfig::backend): host memory for a CPU cache, device memory for a
// GPU one.
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/core/ops.h"

namespace wl::cache {

class KvAccess {
 public:
  virtual ~KvAccess() = default;

  // Throws wl::Error when the cache was made for another model or latent size.
  virtual void check_layout(int64_t blocks, int64_t heads, int64_t head_dim, int64_t rows, int64_t cols) const = 0;
  // Prepares a call on frames [start, start+frames). `cache_update` marks the
  // clean pass that leaves a chunk's final keys in the cache.
  virtual void begin_call(int64_t start_frame, int64_t frames, bool cache_update) = 0;
  // The call's keys before RoPE, after RoPE (at the tokens' absolute frames) and
  // values, [tokens, heads, head_dim] each, tokens ordered frame, row, column.
  virtual void write_call(int64_t block, const float* k_raw, const float* k_rot, const float* v, int64_t tokens) = 0;
  // The keys and values the call's queries attend to in one block; `k_rot` and
  // `v` are the call's own (as given to write_call), which a scheme may use
  // directly. Valid until the next call on this object.
  virtual std::vector<ops::KVSegment> segments(int64_t block, const float* k_rot, const float* v,
                                               int64_t tokens) = 0;
  // The call's queries of one block (before and after RoPE), for policies.
  virtual void observe(int64_t block, const float* q_raw, const float* q_rot, int64_t tokens) = 0;
  virtual void end_call() = 0;
};

}  // namespace wl::cache
