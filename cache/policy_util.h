// Building blocks the cache policies share: picking slots by age and
// evicting whole frames or the lowest-ranked tokens. Nothing here keeps state.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "cache/kv_store.h"

namespace wl::cache::policy_util {

// Used slots of a block for which `eligible` holds, oldest frame first and
// row-major inside a frame.
std::vector<int64_t> slots_oldest_first(const KvStore& store, int64_t block,
                                        const std::function<bool(const TokenMeta&)>& eligible);

// Evicts whole frames from `order` (as slots_oldest_first returns it) until
// `need` slots are freed or `order` runs out. Returns the slots freed.
int64_t evict_whole_frames(KvStore& store, int64_t block, const std::vector<int64_t>& order, int64_t need);

// A token an eviction may pick. Lower tier goes first (tier 1: kept as long
// as tier 0 has tokens), then lower score, then the older frame.
struct EvictionCandidate {
  int64_t slot = 0;
  int32_t tier = 0;
  float score = 0;
};

// Evicts the `need` lowest-ranked candidates (fewer if there are not enough).
// Reorders `candidates`. Returns the slots freed.
int64_t evict_lowest(KvStore& store, int64_t block, std::vector<EvictionCandidate>& candidates, int64_t need);

}  // namespace wl::cache::policy_util
