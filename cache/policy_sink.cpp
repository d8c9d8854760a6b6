// "sink": the attention sink plus the most recent frames (StreamingLLM,
// LongLive; docs/model.md §5). The sink is the store's: the first sink_frames
// frames ever cached (RoomRequest::sink_end). When a new chunk does not fit,
// whole non-sink frames go, oldest first; frame granularity keeps every
// cached frame complete, which is what the published baselines do.
//
// The eviction order is the reference's ("full"); this policy exists under
// its own name so that experiments and the overlay name the baseline they
// run, and so that it can diverge from the reference default independently.
#include "cache/kv_store.h"
#include "cache/policy_util.h"

namespace wl::cache {
namespace {

class SinkPolicy : public CachePolicy {
 public:
  std::string name() const override { return "sink"; }

  void make_room(KvStore& store, const RoomRequest& req) override {
    const auto order = policy_util::slots_oldest_first(
        store, req.block, [&](const TokenMeta& m) { return !KvStore::is_protected(m, req); });
    policy_util::evict_whole_frames(store, req.block, order, req.need);
  }
};

}  // namespace

std::unique_ptr<CachePolicy> make_sink_policy(const PolicyOptions&) { return std::make_unique<SinkPolicy>(); }

}  // namespace wl::cache
