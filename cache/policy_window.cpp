// "window": the most recent frames only (docs/model.md §5). When a new chunk does
// not fit, whole frames go, oldest first, until it does; the window is the
// budget. Unlike "full" and "sink", the attention sink is NOT kept: only the
// current call's frames are protected, so frames below sink_end leave like
// any other (configure the store with sink_frames = 0 to keep the overlay's
// "sink" marks truthful). That makes it the plain sliding-window baseline
// the sink policies are compared against.
#include "cache/kv_store.h"
#include "cache/policy_util.h"

namespace wl::cache {
namespace {

class WindowPolicy : public CachePolicy {
 public:
  std::string name() const override { return "window"; }

  void make_room(KvStore& store, const RoomRequest& req) override {
    const auto order = policy_util::slots_oldest_first(
        store, req.block, [&](const TokenMeta& m) { return m.frame < req.protect_from; });
    policy_util::evict_whole_frames(store, req.block, order, req.need);
  }
};

}  // namespace

std::unique_ptr<CachePolicy> make_window_policy(const PolicyOptions&) { return std::make_unique<WindowPolicy>(); }

}  // namespace wl::cache
