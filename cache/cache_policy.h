// A cache policy decides which tokens of one block's KV store stay when new
// tokens need room, and may score tokens for the overlay. Policies see the
// store through KvStore's policy interface (token metadata, pre-RoPE keys,
// values, evict and merge) and the queries the model shows them.
//
// One policy per file (cache/policy_<name>.cpp), created by name with
// make_policy(). The contract every policy keeps:
//   - make_room() frees at least `need` slots of the block, never touching
//     protected tokens (sink frames, frames >= protect_from);
//   - it runs in time small next to a forward call.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wl {
class StateWriter;  // runtime/core/state_file.h
class StateReader;
}  // namespace wl

namespace wl::cache {

class KvStore;

struct RoomRequest {
  int64_t block = 0;
  int64_t need = 0;           // slots to free
  int64_t protect_from = 0;   // frames >= this belong to the current call
  int64_t sink_end = 0;       // frames < this are the attention sink (the first frames ever cached)
};

// Settings shared by the policies (each reads what it needs).
struct PolicyOptions {
  // observed, future: the frames just before the current call (the previous
  // chunk) stay while anything older can go; they have not been attended to
  // (observed) or are what the next queries look at most (future).
  int64_t recent_frames = 3;

  // observed: accumulated attention decays by this factor per observed call.
  float observed_decay = 0.9f;
  // observed: at most this many queries of a call (evenly spaced) are scored,
  // so the cost per call is bounded whatever the chunk size.
  int64_t observed_queries = 32;

  // future: the query statistics average over about this many clean passes
  // (a running mean with weight max(1/n, 1/stats_memory)).
  int64_t stats_memory = 64;
  // future: add the query variance term k^T Sigma k / (2d) to the expected logit.
  bool variance_term = true;
  // future: merge only pairs whose values have at least this cosine similarity.
  float merge_value_cosine = 0.95f;

  // future: horizon of frame offsets the future-query proxy averages over.
  std::vector<int64_t> horizon = {1, 2, 4, 8};
  // future: weight scores by |v| (value norm).
  bool weight_by_value_norm = true;
  // future: merge a pair when their expected logits under the proxy differ by
  // less than this (in logit units) and their values are close.
  float merge_threshold = 0.05f;
  bool merge = true;
};

class CachePolicy {
 public:
  virtual ~CachePolicy() = default;
  virtual std::string name() const = 0;

  // Frees at least req.need slots of block req.block (evict or merge).
  virtual void make_room(KvStore& store, const RoomRequest& req) = 0;

  // Queries of one block for a call, before RoPE (q_raw) and after (q_rot),
  // [tokens, heads, head_dim] each; `cache_update` is true for the clean pass
  // that writes a chunk's final keys. Default: ignored.
  virtual void observe(KvStore& /*store*/, int64_t /*block*/, const float* /*q_raw*/, const float* /*q_rot*/,
                       int64_t /*tokens*/, int64_t /*frame0*/, bool /*cache_update*/) {}

  // Per-slot scores of a block for the overlay (higher = more worth keeping);
  // `out` has one entry per slot. Default: no scores (left untouched).
  virtual bool score(const KvStore& /*store*/, int64_t /*block*/, std::vector<float>& /*out*/) const { return false; }

  // Forget everything learned (world reset).
  virtual void reset() {}

  // What it has learned, for a saved world state (runtime/core/state_file.h),
  // under `prefix`. Default: a policy that learns nothing saves nothing.
  virtual void save_state(StateWriter& /*out*/, const std::string& /*prefix*/) const {}
  // Restores it; the store's bookkeeping is already loaded. Refuses by name
  // (StateReader::fail) what does not fit the store.
  virtual void load_state(const StateReader& /*in*/, const std::string& /*prefix*/, const KvStore& /*store*/) {}
};

// "full" (the reference: evict the oldest non-sink frames), "window", "sink",
// "observed", "future". Throws wl::Error for an unknown name, listing the known ones.
std::unique_ptr<CachePolicy> make_policy(const std::string& name, const PolicyOptions& options = {});
std::vector<std::string> policy_names();

}  // namespace wl::cache
