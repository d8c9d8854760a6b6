// The KV store of the causal DiT: per block, a pool of token slots holding
// keys before RoPE (k_raw), keys rotated at their position (k_rot, what
// attention reads) and values, with bookkeeping per token (frame, row, column,
// merged count, score). Eviction frees a slot and merging folds one slot into
// another: nothing is ever shifted or copied wholesale.
//
// A call for frames [s, s+f) (docs/model.md §3): frames already cached keep their
// slots and are overwritten; new frames get slots, and when the block's budget
// would be exceeded the policy makes room first (sink frames and the call's
// own frames are protected). Attention then reads every token of the block
// from frames below s+f, oldest frames trimmed to max_attention_tokens.
//
// Keys and values are tensors on config.backend, one per block and kind
// ([slots, heads, head_dim]), moved, merged and scored by ops
// (runtime/core/ops.h: set_rows, get_rows, merge_rows, attention_mass,
// query_sums, expected_attention). Every pointer in and out (write_call,
// observe, segments, the row accessors) is memory of that backend, so on a
// GPU keys never cross to the host; the bookkeeping stays on the host.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cache/cache_policy.h"
#include "cache/cache_stats.h"
#include "cache/kv_access.h"
#include "runtime/core/ops.h"

namespace wl::cache {

struct KvStoreConfig {
  int64_t blocks = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;
  int64_t rows = 0, cols = 0;        // token grid of one latent frame
  int64_t budget_tokens = 0;         // per block, the current call's tokens included
  int64_t sink_frames = 0;           // the first frames ever cached stay
  int64_t max_attention_tokens = 0;  // attention reads at most this many newest tokens (0: all)
  Backend backend = Backend::CPU;    // where keys and values live (a GPU's: device memory, never copied to the host)
  int64_t tokens_per_frame() const { return rows * cols; }
  int64_t row_floats() const { return heads * head_dim; }
};

struct TokenMeta {
  int64_t frame = -1;    // absolute latent frame; -1: free slot
  int32_t row = 0, col = 0;
  float log_count = 0;   // log of the number of tokens merged into this one (0: one token)
  bool used() const { return frame >= 0; }
};

// The three kinds of rows a slot holds.
enum class RowKind : uint8_t { KRaw, KRot, V };

// The expected query of one block's future calls (the "future" policy's
// proxy; ops::ExpectedQuery says what each part is).
using ExpectedQuery = ops::ExpectedQuery;

// Two used slots whose redundancy a policy asks about.
struct SlotPair {
  int32_t a = 0, b = 0;
};

// What the expected query makes of a block's used slots.
struct ExpectedAttention {
  std::vector<int64_t> slots;      // [n] the used slots, ascending
  std::vector<int32_t> index;      // [slots] position in `slots`, -1 for a free slot
  std::vector<float> attention;    // [n] share of attention (mean over heads and offsets)
  std::vector<float> score;        // [n] the share weighted by |v| / mean |v| of the head (when asked)
  std::vector<float> pair_cost;    // [pairs] max over heads of |expected logit of a - of b|; any value
                                   // >= the cost limit means "at least the limit"
  std::vector<float> pair_cosine;  // [pairs] cosine of the two values; NaN where the cost reached the limit
};

class KvStore : public KvAccess {
 public:
  KvStore(const KvStoreConfig& config, std::unique_ptr<CachePolicy> policy);

  const KvStoreConfig& config() const { return config_; }
  CachePolicy& policy() { return *policy_; }
  const CachePolicy& policy() const { return *policy_; }

  // ---- the model's side ------------------------------------------------------

  // Makes slots ready for a call on frames [start, start+frames). Throws
  // wl::Error for calls the cache cannot express (more tokens than the budget,
  // a gap after the newest frame, a frame evicted earlier).
  void check_layout(int64_t blocks, int64_t heads, int64_t head_dim, int64_t rows, int64_t cols) const override;
  void begin_call(int64_t start_frame, int64_t frames, bool cache_update) override;
  // Scatters the call's keys and values ([T, heads, head_dim], tokens ordered
  // frame, row, column; memory of the store's backend) into their slots in one
  // block. With fewer tokens than the call has, only the first ones are stored
  // (the others stay as they were).
  void write_call(int64_t block, const float* k_raw, const float* k_rot, const float* v, int64_t tokens) override;
  // What one block's attention reads for the current call: every cached token
  // of a frame below the call's end, the call's own included (from the slots).
  std::vector<ops::KVSegment> segments(int64_t block, const float*, const float*, int64_t) override {
    return segments(block);
  }
  std::vector<ops::KVSegment> segments(int64_t block) const;
  // Cached tokens of frames in [first, last) as segments (RoPE'd at their
  // absolute frames), for schemes that pick their own attention set.
  std::vector<ops::KVSegment> frame_segments(int64_t block, int64_t first, int64_t last) const;
  // Shows the policy this call's queries of one block.
  void observe(int64_t block, const float* q_raw, const float* q_rot, int64_t tokens) override;
  // Ends the call; after a cache update the statistics are refreshed.
  void end_call() override;
  // Slots of one cached frame in one block (row-major tokens, -1: gone), or null.
  const std::vector<int32_t>* frame_slots(int64_t block, int64_t frame) const;

  // ---- the policies' side ----------------------------------------------------

  int64_t slots() const { return config_.budget_tokens; }
  const std::vector<TokenMeta>& meta(int64_t block) const { return meta_[block]; }
  // One slot's row (heads * head_dim floats) in the backend's memory: read
  // them on the host only for a CPU store; policies use the computations below.
  const float* k_raw(int64_t block, int64_t slot) const { return row_ptr(RowKind::KRaw, block, slot); }
  const float* k_rot(int64_t block, int64_t slot) const { return row_ptr(RowKind::KRot, block, slot); }
  const float* v(int64_t block, int64_t slot) const { return row_ptr(RowKind::V, block, slot); }
  int64_t used_tokens(int64_t block) const { return used_[block]; }
  // Cached frames (any block holds a token of them), oldest first.
  std::vector<int64_t> frames() const;
  int64_t newest_frame() const { return newest_frame_; }
  // The sink: the first sink_frames frames cached since the last clear().
  int64_t sink_end() const { return first_frame_ < 0 ? 0 : first_frame_ + config_.sink_frames; }
  bool is_sink(int64_t frame) const { return frame < sink_end(); }
  static bool is_protected(const TokenMeta& m, const RoomRequest& req) {
    return m.frame < req.sink_end || m.frame >= req.protect_from;
  }
  // Frees a slot.
  void evict(int64_t block, int64_t slot);
  // Folds slot `from` into slot `into` with weights (normalised here): keys
  // (raw and rotated) and values become the weighted mean, counts add up (in
  // log space) so the merged token keeps both tokens' attention mass.
  void merge(int64_t block, int64_t into, int64_t from, float w_into, float w_from);

  // ---- computations over the cached rows (on the store's backend) ------------

  // `queries` queries of this call, evenly spaced over q [tokens, heads,
  // head_dim] (backend memory; query i is token ((2i+1) tokens) / (2 queries)),
  // attend per head to exactly what segments(block) returns, log-count bias
  // included: softmax(q . k_rot / sqrt(head_dim) + bias). Returns [slots]: the
  // mass each slot receives summed over those queries and the heads (0 where
  // not attended); empty when the call attends to nothing.
  std::vector<float> attention_mass(int64_t block, const float* q_rot, int64_t tokens, int64_t queries) const;
  // Per float of a row, the sums over tokens of q and q^2 (q [tokens, heads,
  // head_dim], backend memory).
  void query_sums(const float* q, int64_t tokens, std::vector<double>& sum, std::vector<double>& sum_sq) const;
  // What an expected query makes of every used slot of a block (see
  // ops::expected_attention; the log counts are the slots' own). `pairs`
  // are slots; pair costs and cosines come back in their order. Nothing
  // but slots and index is filled for a block without used slots.
  ExpectedAttention expected_attention(int64_t block, const ExpectedQuery& q, bool weight_by_value_norm,
                                       const std::vector<SlotPair>& pairs = {}, float pair_cost_limit = 0) const;
  // Rows of one kind of the given slots of a block into out [slots.size(),
  // heads, head_dim] (backend memory).
  void gather_rows(int64_t block, RowKind kind, const std::vector<int32_t>& slots, float* out) const;

  // ---- statistics -------------------------------------------------------------

  // The snapshot made after the last cache update (cheap to copy).
  const CacheStats& stats() const { return stats_; }
  int64_t bytes_used() const;

  // Forgets every token and what the policy learned.
  void clear();

  // ---- saved world states (runtime/core/state_file.h) --------------------------

  // Writes the rows and every piece of bookkeeping (slots, free lists,
  // frames, merge counts, the policy's statistics) under `prefix`, so that
  // load_state() continues bit for bit. Between calls only.
  void save_state(StateWriter& out, const std::string& prefix) const;
  // Restores a saved store into this one. The layout (blocks, heads,
  // head_dim, token grid, sink, attention limit) must be this store's; the
  // budget and the policy (by name, with `options`) come from the state.
  // Every index is checked, so a garbled state is refused, never used.
  void load_state(const StateReader& in, const std::string& prefix, const PolicyOptions& options = {});

  // ---- live changes (between calls) -------------------------------------------

  // Hands the cached tokens to another policy (it starts with no history).
  void set_policy(std::unique_ptr<CachePolicy> policy);
  // Changes the per-block budget. Shrinking lets the policy make room first
  // (sink frames stay); the kept tokens are compacted into the new slots and
  // the policy's learned history is reset. Throws wl::Error when the sink
  // alone does not fit.
  void set_budget(int64_t budget_tokens);

 private:
  // One block's rows on the store's backend and what goes with them.
  struct BlockRows {
    Tensor k_raw, k_rot, v;              // [slots, heads, head_dim]
    Tensor bias;                         // [slots] the logit bias attention reads (log counts)
    std::vector<float> bias_values;      // [slots] what `bias` holds
    std::vector<ops::RowMerge> merges;   // queued by merge(), applied before the rows are next read
  };
  // A block's rows of one kind, its queued merges applied (so a policy's
  // merges reach the backend as one op).
  const Tensor& rows(RowKind kind, int64_t block) const;
  void apply_merges(int64_t block) const;
  // Tensors of the three kinds (and the bias) for `slots` slots per block, zeroed.
  void allocate_rows(int64_t slots);
  // A view of `count` rows at `data` (backend memory), [count, heads, head_dim].
  Tensor rows_at(const float* data, int64_t count) const;
  const float* row_ptr(RowKind kind, int64_t block, int64_t slot) const {
    return rows(kind, block).f32() + slot * config_.row_floats();
  }
  void assign_frame(int64_t block, int64_t frame);
  // Used slots of frames in [first, end), ascending, the oldest trimmed to max_tokens (0: all).
  std::vector<int32_t> visible_slots(int64_t block, int64_t first, int64_t end, int64_t max_tokens) const;
  std::vector<ops::KVSegment> visible_segments(int64_t block, int64_t first, int64_t end, int64_t max_tokens) const;
  // The block's per-slot logit bias [slots] (backend memory), or undefined
  // before any merge.
  Tensor bias(int64_t block) const;
  int64_t n_bytes_per_token() const { return config_.row_floats() * static_cast<int64_t>(sizeof(float)); }
  void refresh_stats();

  KvStoreConfig config_;
  std::unique_ptr<CachePolicy> policy_;
  mutable std::vector<BlockRows> rows_;           // [blocks] keys and values (merges apply lazily)
  std::vector<std::vector<TokenMeta>> meta_;      // [blocks][slots]
  std::vector<std::vector<int32_t>> free_;        // free slots per block
  std::vector<int64_t> used_;                     // used slots per block
  std::vector<std::vector<int32_t>> call_slots_;  // [blocks][T] slots of the current call
  // [blocks] frame -> slot of each of its tokens (row-major, -1: evicted or merged away)
  std::vector<std::map<int64_t, std::vector<int32_t>>> frame_slots_;
  int64_t newest_frame_ = -1;
  int64_t first_frame_ = -1;
  int64_t call_start_ = 0, call_frames_ = 0;
  bool call_update_ = false;
  bool any_merged_ = false;
  // Per chunk bookkeeping for statistics.
  std::vector<std::vector<std::pair<int64_t, int32_t>>> evicted_;  // [blocks] (frame, tokens) this chunk
  std::vector<std::vector<int64_t>> merged_frames_;                // [blocks] frames with a merge this chunk
  double policy_ms_ = 0;
  CacheStats stats_;
};

}  // namespace wl::cache
