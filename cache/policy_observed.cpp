// "observed": keep the tokens that received the most attention (H2O-style,
// docs/model.md §5), a baseline for "future".
//
// What is observed: only the clean cache-update pass of each chunk. Its
// queries are the ones whose keys stay in the cache, and the noisy passes'
// queries change with the noise level; observing one call in five also keeps
// the cost down. Per observed call and block, up to `observed_queries` queries
// (evenly spaced over the call's tokens) attend, per head, to exactly the
// slots the model's attention reads (KvStore::segments, log-count bias
// included): softmax(q_rot . k_rot / sqrt(d) + bias), computed by the store
// on its backend (KvStore::attention_mass). The probability mass
// each slot receives, averaged over sampled queries and heads (one unit per
// call), is added to the slot's accumulated mass after the old mass decays by
// `observed_decay`.
//
// Eviction: the lowest accumulated mass goes first, at token granularity.
// Sink frames and the current call's frames are never touched; the
// `recent_frames` frames just before the call go only when nothing older is
// left, because they have had at most one observation to prove themselves.
#include <algorithm>
#include <vector>

#include "cache/kv_store.h"
#include "cache/policy_util.h"
#include "runtime/core/state_file.h"

namespace wl::cache {
namespace {

class ObservedPolicy : public CachePolicy {
 public:
  explicit ObservedPolicy(const PolicyOptions& options) : options_(options) {}

  std::string name() const override { return "observed"; }

  void observe(KvStore& store, int64_t block, const float* /*q_raw*/, const float* q_rot, int64_t tokens,
               int64_t /*frame0*/, bool cache_update) override {
    if (!cache_update || tokens <= 0) return;
    BlockState& st = sync(store, block);
    const int64_t nq = std::clamp<int64_t>(options_.observed_queries, 1, tokens);
    // The mass each slot receives from the sampled queries, on the store's backend.
    const std::vector<float> received = store.attention_mass(block, q_rot, tokens, nq);
    if (received.empty()) return;
    const float decay = options_.observed_decay, unit = 1.0f / static_cast<float>(nq * store.config().heads);
    for (float& m : st.mass) m *= decay;
    for (size_t s = 0; s < received.size(); ++s) st.mass[s] += received[s] * unit;
  }

  void make_room(KvStore& store, const RoomRequest& req) override {
    BlockState& st = sync(store, req.block);
    const std::vector<TokenMeta>& meta = store.meta(req.block);
    const int64_t recent_from = req.protect_from - options_.recent_frames;
    std::vector<policy_util::EvictionCandidate> candidates;
    for (int64_t s = 0; s < store.slots(); ++s) {
      const TokenMeta& m = meta[s];
      if (!m.used() || KvStore::is_protected(m, req)) continue;
      candidates.push_back({s, m.frame >= recent_from ? 1 : 0, st.mass[s]});
    }
    policy_util::evict_lowest(store, req.block, candidates, req.need);
  }

  bool score(const KvStore& store, int64_t block, std::vector<float>& out) const override {
    if (block >= static_cast<int64_t>(blocks_.size()) || blocks_[block].mass.empty()) return false;
    const BlockState& st = blocks_[block];
    const std::vector<TokenMeta>& meta = store.meta(block);
    for (int64_t s = 0; s < store.slots() && s < static_cast<int64_t>(out.size()); ++s)
      if (meta[s].used()) out[s] = st.owner[s].same(meta[s]) ? st.mass[s] : 0.0f;
    return true;
  }

  void reset() override { blocks_.clear(); }

  // Per block: each slot's accumulated mass and the token it belongs to.
  void save_state(StateWriter& out, const std::string& prefix) const override {
    out.i64(prefix + ".blocks", {static_cast<int64_t>(blocks_.size())});
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const BlockState& st = blocks_[b];
      std::vector<int64_t> owner;  // [slots][3] frame, row, column
      for (const Owner& o : st.owner) owner.insert(owner.end(), {o.frame, o.row, o.col});
      out.f32(prefix + ".b" + std::to_string(b) + ".mass", st.mass);  // [slots] or empty
      out.i64(prefix + ".b" + std::to_string(b) + ".owner", owner);
    }
  }
  void load_state(const StateReader& in, const std::string& prefix, const KvStore& store) override {
    const int64_t n = in.i64(prefix + ".blocks", 1)[0];
    if (n != 0 && n != store.config().blocks)
      in.fail("the observed policy's state is for " + std::to_string(n) + " blocks, not " +
              std::to_string(store.config().blocks));
    blocks_.assign(static_cast<size_t>(n), {});
    for (int64_t b = 0; b < n; ++b) {
      BlockState& st = blocks_[b];
      st.mass = in.f32(prefix + ".b" + std::to_string(b) + ".mass");
      const std::vector<int64_t> owner = in.i64(prefix + ".b" + std::to_string(b) + ".owner");
      if (owner.size() != st.mass.size() * 3 || (!st.mass.empty() && static_cast<int64_t>(st.mass.size()) != store.slots()))
        in.fail("the observed policy's state of block " + std::to_string(b) + " does not fit " +
                std::to_string(store.slots()) + " slots");
      for (size_t s = 0; s < st.mass.size(); ++s)
        st.owner.push_back(Owner{owner[3 * s], static_cast<int32_t>(owner[3 * s + 1]), static_cast<int32_t>(owner[3 * s + 2])});
    }
  }

 private:
  // The token a slot's mass belongs to: slots are reused after an eviction,
  // and a new token must not inherit its predecessor's mass.
  struct Owner {
    int64_t frame = -1;
    int32_t row = 0, col = 0;
    bool same(const TokenMeta& m) const { return m.frame == frame && m.row == row && m.col == col; }
  };
  struct BlockState {
    std::vector<float> mass;   // [slots] accumulated attention mass
    std::vector<Owner> owner;  // [slots]
  };

  // The block's state, sized on first use, with slots whose token changed reset.
  BlockState& sync(const KvStore& store, int64_t block) {
    if (blocks_.size() != static_cast<size_t>(store.config().blocks)) blocks_.assign(store.config().blocks, {});
    BlockState& st = blocks_[block];
    const size_t n = static_cast<size_t>(store.slots());
    if (st.mass.size() != n) {
      st.mass.assign(n, 0.0f);
      st.owner.assign(n, Owner{});
    }
    const std::vector<TokenMeta>& meta = store.meta(block);
    for (size_t s = 0; s < n; ++s) {
      if (st.owner[s].same(meta[s])) continue;
      st.owner[s] = Owner{meta[s].frame, meta[s].row, meta[s].col};
      st.mass[s] = 0.0f;
    }
    return st;
  }

  PolicyOptions options_;
  std::vector<BlockState> blocks_;
};

}  // namespace

std::unique_ptr<CachePolicy> make_observed_policy(const PolicyOptions& options) {
  return std::make_unique<ObservedPolicy>(options);
}

}  // namespace wl::cache
