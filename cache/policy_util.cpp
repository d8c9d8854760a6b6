#include "cache/policy_util.h"

#include <algorithm>

namespace wl::cache::policy_util {

std::vector<int64_t> slots_oldest_first(const KvStore& store, int64_t block,
                                        const std::function<bool(const TokenMeta&)>& eligible) {
  const std::vector<TokenMeta>& meta = store.meta(block);
  std::vector<int64_t> order;
  for (int64_t s = 0; s < static_cast<int64_t>(meta.size()); ++s)
    if (meta[s].used() && eligible(meta[s])) order.push_back(s);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const TokenMeta &x = meta[a], &y = meta[b];
    if (x.frame != y.frame) return x.frame < y.frame;
    if (x.row != y.row) return x.row < y.row;
    return x.col < y.col;
  });
  return order;
}

int64_t evict_whole_frames(KvStore& store, int64_t block, const std::vector<int64_t>& order, int64_t need) {
  const std::vector<TokenMeta>& meta = store.meta(block);
  int64_t freed = 0;
  size_t i = 0;
  while (freed < need && i < order.size()) {
    const int64_t frame = meta[order[i]].frame;
    while (i < order.size() && meta[order[i]].frame == frame) {
      store.evict(block, order[i++]);
      ++freed;
    }
  }
  return freed;
}

int64_t evict_lowest(KvStore& store, int64_t block, std::vector<EvictionCandidate>& candidates, int64_t need) {
  const std::vector<TokenMeta>& meta = store.meta(block);
  const int64_t n = std::min<int64_t>(need, static_cast<int64_t>(candidates.size()));
  if (n <= 0) return 0;
  auto before = [&](const EvictionCandidate& a, const EvictionCandidate& b) {
    if (a.tier != b.tier) return a.tier < b.tier;
    if (a.score != b.score) return a.score < b.score;
    const TokenMeta &x = meta[a.slot], &y = meta[b.slot];
    if (x.frame != y.frame) return x.frame < y.frame;
    return a.slot < b.slot;
  };
  // Only the n lowest matter: partial sort keeps the cost O(N log n).
  std::partial_sort(candidates.begin(), candidates.begin() + n, candidates.end(), before);
  for (int64_t i = 0; i < n; ++i) store.evict(block, candidates[i].slot);
  return n;
}

}  // namespace wl::cache::policy_util
