// "full": the reference behaviour (docs/model.md §3). Keeps everything up to the
// budget; when a new chunk does not fit, whole frames go, oldest first, the
// sink frames excepted.
#include <algorithm>
#include <vector>

#include "cache/kv_store.h"

namespace wl::cache {
namespace {

class FullPolicy : public CachePolicy {
 public:
  std::string name() const override { return "full"; }

  void make_room(KvStore& store, const RoomRequest& req) override {
    const std::vector<TokenMeta>& meta = store.meta(req.block);
    // Unprotected slots, oldest frame first (row-major inside a frame).
    std::vector<int64_t> order;
    for (int64_t s = 0; s < static_cast<int64_t>(meta.size()); ++s)
      if (meta[s].used() && !KvStore::is_protected(meta[s], req)) order.push_back(s);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      const TokenMeta &x = meta[a], &y = meta[b];
      if (x.frame != y.frame) return x.frame < y.frame;
      return x.row * 65536 + x.col < y.row * 65536 + y.col;
    });
    // Evict whole frames until enough is free.
    int64_t freed = 0;
    size_t i = 0;
    while (freed < req.need && i < order.size()) {
      const int64_t frame = meta[order[i]].frame;
      while (i < order.size() && meta[order[i]].frame == frame) {
        store.evict(req.block, order[i++]);
        ++freed;
      }
    }
  }
};

}  // namespace

std::unique_ptr<CachePolicy> make_full_policy(const PolicyOptions&) { return std::make_unique<FullPolicy>(); }

}  // namespace wl::cache
