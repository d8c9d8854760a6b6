// Where a KV store's rows live, and the computations over them that the
// scoring policies need. Rows are keys before RoPE (k_raw), keys rotated at
// their position (k_rot) and values, each [blocks, slots, heads, head_dim],
// in the memory of the store's backend: host memory on the CPU, device memory
// on CUDA (keys and values never cross to the host there; only small
// per-slot vectors come back). KvStore keeps the bookkeeping (which slot
// holds which token) on the host, owns one KvRows and is the only caller;
// policies reach these computations through KvStore.
//
//   kv_rows_cpu.cpp    host memory; the reference arithmetic
//   kv_rows_cuda.cpp   device memory; kernels in runtime/cuda/kv_cache_kernels.cu
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl::cache {

struct KvStoreConfig;

enum class RowKind : uint8_t { KRaw, KRot, V };

// The expected query of one block's future calls (the "future" policy's
// proxy), per head, 1/sqrt(head_dim) folded in. A head's first `dt` floats
// rotate with the frame, the rest (height and width pairs) are averaged over
// the frame's token grid.
struct ExpectedQuery {
  int64_t offsets = 0;       // horizon offsets
  int64_t dt = 0;            // leading floats of a head that rotate with the frame
  std::vector<float> time;   // [offsets][H][dt] time part rotated to each offset
  std::vector<float> space;  // [H][d - dt] height and width part averaged over the grid
  std::vector<float> var;    // [H][d] variance weight per float; empty: no variance term
};

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

class KvRows {
 public:
  virtual ~KvRows() = default;
  virtual Backend backend() const = 0;

  // One block's rows of one kind: slot s starts at + s * heads * head_dim.
  // Backend memory (device memory on CUDA).
  virtual float* rows(RowKind kind, int64_t block) = 0;

  // The slots of the current call, [blocks][tokens] (same length per block).
  virtual void set_call_slots(const std::vector<std::vector<int32_t>>& call_slots) = 0;
  // Rows t < n of k_raw, k_rot, v ([n, heads, head_dim], backend memory) go
  // to the call's slots of one block.
  virtual void write(int64_t block, const float* k_raw, const float* k_rot, const float* v, int64_t n) = 0;
  // row[into] = w_into * row[into] + w_from * row[from] for every kind (the
  // weights sum to one).
  virtual void merge(int64_t block, int64_t into, int64_t from, float w_into, float w_from) = 0;
  // New slot count; new slot s of block b takes old slot keep[b][s], -1: zero.
  virtual void compact(int64_t slots, const std::vector<std::vector<int32_t>>& keep) = 0;
  // The rows of `slots` (one kind) into out [slots.size(), heads, head_dim], backend memory.
  virtual void gather(int64_t block, RowKind kind, const std::vector<int32_t>& slots, float* out) = 0;
  // The block's per-slot logit bias in backend memory, made equal to `host` ([slots]).
  virtual const float* bias(int64_t block, const std::vector<float>& host) = 0;

  // ---- computations for the policies ----------------------------------------

  // Sampled queries i < queries of q [tokens, heads, head_dim] (backend memory;
  // query i is token ((2i+1) tokens) / (2 queries)) attend per head to the
  // rows k_rot of `slots`: softmax_j(q . k_j * scale + bias[slots[j]]) (bias:
  // per slot, backend memory, or null). Returns the probability mass each
  // listed slot receives, summed over sampled queries and heads, [slots.size()].
  virtual std::vector<float> attention_mass(int64_t block, const std::vector<int32_t>& slots, const float* bias,
                                            const float* q, int64_t tokens, int64_t queries, float scale) = 0;
  // Per float of a row (heads * head_dim), the sums over tokens of q and q^2
  // of q [tokens, heads, head_dim] (backend memory).
  virtual void query_sums(const float* q, int64_t tokens, std::vector<double>& sum, std::vector<double>& sum_sq) = 0;
  // The expected query's view of the used `slots` (ascending) of a block,
  // whose log counts are `log_count` [n]: per head and offset o, expected
  // logit_j = space . k_j[dt:] + time_o . k_j[:dt] + var . k_j^2 + log_count_j,
  // softmax over j; attention_j = mean over heads and offsets of the shares,
  // score_j the same weighted by |v_hj| / mean_j |v_hj| when asked. `pairs`
  // hold positions in `slots`; a pair's cost compares the logits without
  // bias and variance, averaged over offsets. Fills attention, score,
  // pair_cost and pair_cosine of `out`.
  virtual void expected_attention(int64_t block, const std::vector<int64_t>& slots, const std::vector<float>& log_count,
                                  const ExpectedQuery& q, bool weight_by_value_norm, const std::vector<SlotPair>& pairs,
                                  float cost_limit, ExpectedAttention& out) = 0;
};

// Rows for `config` on config.backend, zeroed. Throws wl::Error when that
// backend is not built or has no device.
std::unique_ptr<KvRows> make_kv_rows(const KvStoreConfig& config);

}  // namespace wl::cache
