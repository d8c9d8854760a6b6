// KvRows in device memory (KvStoreConfig::backend CUDA): keys and values
// stay on the device. What crosses to it from the host is small integers and
// weights: the call's slot lists (uploaded once per call, used by every
// block's write), merges (queued on the host and applied right before the
// rows are next used, in parallel waves), the per-slot logit bias when it
// changed; what comes back is the policies' per-slot score vectors.
// Kernels: runtime/cuda/kv_cache_kernels.cu.
#ifdef WORLDLOOP_HAS_CUDA
#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>

#include "cache/kv_rows.h"
#include "cache/kv_store.h"
#include "runtime/cuda/kv_cache_kernels.h"
#include "runtime/core/error.h"

namespace wl::cache {
namespace {

namespace kv = wl::cuda::kv;

class CudaKvRows : public KvRows {
 public:
  explicit CudaKvRows(const KvStoreConfig& c)
      : blocks_(c.blocks), slots_(c.budget_tokens), heads_(c.heads), head_dim_(c.head_dim), row_(c.row_floats()) {
    allocate();
  }

  Backend backend() const override { return Backend::CUDA; }

  float* rows(RowKind kind, int64_t block) override {
    flush_merges();
    return array(kind) + block * slots_ * row_;
  }

  void set_call_slots(const std::vector<std::vector<int32_t>>& call_slots) override {
    call_tokens_ = call_slots.empty() ? 0 : static_cast<int64_t>(call_slots[0].size());
    std::vector<int32_t> flat;  // [blocks][call_tokens_]
    flat.reserve(static_cast<size_t>(blocks_ * call_tokens_));
    for (const std::vector<int32_t>& s : call_slots) {
      if (static_cast<int64_t>(s.size()) != call_tokens_) throw Error("kv store (CUDA): blocks differ in call slots");
      flat.insert(flat.end(), s.begin(), s.end());
    }
    call_slots_.assign(flat);
  }

  void write(int64_t b, const float* k_raw, const float* k_rot, const float* v, int64_t n) override {
    if (n <= 0) return;
    const kv::RowArrays dst{rows(RowKind::KRaw, b), rows(RowKind::KRot, b), rows(RowKind::V, b)};
    kv::scatter_rows(dst, call_slots_.data() + b * call_tokens_, k_raw, k_rot, v, n, row_);
  }

  void merge(int64_t b, int64_t into, int64_t from, float w_into, float w_from) override {
    pending_.push_back({static_cast<int32_t>(b * slots_ + into), static_cast<int32_t>(b * slots_ + from), w_into,
                        w_from});
  }

  void compact(int64_t slots, const std::vector<std::vector<int32_t>>& keep) override {
    flush_merges();
    std::vector<int32_t> from(static_cast<size_t>(blocks_ * slots), -1);  // new row -> old row
    for (int64_t b = 0; b < blocks_; ++b)
      for (int64_t s = 0; s < slots; ++s)
        if (keep[b][s] >= 0) from[b * slots + s] = static_cast<int32_t>(b * slots_ + keep[b][s]);
    kv::DeviceArray<int32_t> from_dev;
    from_dev.assign(from);
    const int64_t n = blocks_ * slots;
    check_rows(n);
    for (std::shared_ptr<void>* a : {&k_raw_, &k_rot_, &v_}) {
      std::shared_ptr<void> next = kv::device_alloc(static_cast<size_t>(n * row_) * sizeof(float));
      kv::gather_rows(static_cast<float*>(next.get()), static_cast<const float*>(a->get()), from_dev.data(), n, row_);
      *a = std::move(next);
    }
    slots_ = slots;
    allocate_bias();
  }

  void gather(int64_t b, RowKind kind, const std::vector<int32_t>& slots, float* out) override {
    const float* src = rows(kind, b);
    gather_slots_.assign(slots);
    kv::gather_rows(out, src, gather_slots_.data(), static_cast<int64_t>(slots.size()), row_);
  }

  const float* bias(int64_t b, const std::vector<float>& host) override {
    if (static_cast<int64_t>(host.size()) != slots_) throw Error("kv store (CUDA): bias is not one value per slot");
    float* dev = static_cast<float*>(bias_.get()) + b * slots_;
    if (bias_host_[b] != host) {
      kv::upload(dev, host.data(), host.size() * sizeof(float));
      bias_host_[b] = host;
    }
    return dev;
  }

  std::vector<float> attention_mass(int64_t block, const std::vector<int32_t>& slots, const float* bias,
                                    const float* q, int64_t tokens, int64_t queries, float scale) override {
    return kv::attention_mass(rows(RowKind::KRot, block), slots, bias, q, tokens, queries, heads_, head_dim_, scale);
  }

  void query_sums(const float* q, int64_t tokens, std::vector<double>& sum, std::vector<double>& sum_sq) override {
    kv::query_sums(q, tokens, row_, sum, sum_sq);
  }

  void expected_attention(int64_t block, const std::vector<int64_t>& slots, const std::vector<float>& log_count,
                          const ExpectedQuery& q, bool weight_by_value_norm, const std::vector<SlotPair>& pairs,
                          float cost_limit, ExpectedAttention& out) override {
    const std::vector<int32_t> slots32(slots.begin(), slots.end());
    std::vector<int32_t> flat_pairs;  // [pairs][2]
    flat_pairs.reserve(2 * pairs.size());
    for (const SlotPair& p : pairs) {
      flat_pairs.push_back(p.a);
      flat_pairs.push_back(p.b);
    }
    kv::ExpectedAttentionResult r;
    kv::expected_attention(rows(RowKind::KRot, block), rows(RowKind::V, block), heads_, head_dim_, slots32, log_count,
                           q.dt, q.offsets, q.time, q.space, q.var, weight_by_value_norm, flat_pairs, cost_limit, r);
    if (slots.empty()) return;  // as on the CPU: nothing to score, nothing filled
    out.attention = std::move(r.attention);
    out.score = std::move(r.score);
    out.pair_cost = std::move(r.cost);
    out.pair_cosine = std::move(r.cosine);
  }

 private:
  void check_rows(int64_t n) const {
    if (n > INT32_MAX) throw Error("kv store (CUDA): " + std::to_string(n) + " slots over all blocks exceed int32 rows");
  }

  void allocate() {
    const int64_t n = blocks_ * slots_;
    check_rows(n);
    const size_t bytes = static_cast<size_t>(n * row_) * sizeof(float);
    for (std::shared_ptr<void>* a : {&k_raw_, &k_rot_, &v_}) {
      *a = kv::device_alloc(bytes);
      kv::fill_zero(a->get(), bytes);
    }
    allocate_bias();
  }

  void allocate_bias() {
    bias_ = kv::device_alloc(static_cast<size_t>(blocks_ * slots_) * sizeof(float));
    kv::fill_zero(bias_.get(), static_cast<size_t>(blocks_ * slots_) * sizeof(float));
    bias_host_.assign(static_cast<size_t>(blocks_), std::vector<float>(static_cast<size_t>(slots_), 0.0f));
  }

  float* array(RowKind kind) const {
    const std::shared_ptr<void>& a = kind == RowKind::KRaw ? k_raw_ : kind == RowKind::KRot ? k_rot_ : v_;
    return static_cast<float*>(a.get());
  }

  // Applies the queued merges in order: a merge goes into the wave after the
  // last one that touched either of its rows, so merges within a wave share
  // no row and run in parallel, and chains (a <- b, then a <- c) keep their order.
  void flush_merges() {
    if (pending_.empty()) return;
    std::unordered_map<int32_t, int64_t> last_wave;  // row -> wave that last touched it
    std::vector<int64_t> wave(pending_.size());
    int64_t waves = 0;
    for (size_t i = 0; i < pending_.size(); ++i) {
      int64_t w = 0;
      for (int32_t r : {pending_[i].into, pending_[i].from}) {
        auto it = last_wave.find(r);
        if (it != last_wave.end()) w = std::max(w, it->second + 1);
      }
      last_wave[pending_[i].into] = last_wave[pending_[i].from] = w;
      wave[i] = w;
      waves = std::max(waves, w + 1);
    }
    std::vector<int64_t> start(static_cast<size_t>(waves + 1), 0);  // merges of wave w: [start[w], start[w+1])
    for (int64_t w : wave) ++start[w + 1];
    for (int64_t w = 0; w < waves; ++w) start[w + 1] += start[w];
    std::vector<kv::RowMerge> sorted(pending_.size());
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (size_t i = 0; i < pending_.size(); ++i) sorted[next[wave[i]]++] = pending_[i];
    pending_.clear();
    merges_.assign(sorted);
    const kv::RowArrays all{array(RowKind::KRaw), array(RowKind::KRot), array(RowKind::V)};
    for (int64_t w = 0; w < waves; ++w) kv::merge_rows(all, merges_.data() + start[w], start[w + 1] - start[w], row_);
  }

  int64_t blocks_, slots_, heads_, head_dim_, row_;
  std::shared_ptr<void> k_raw_, k_rot_, v_;  // device [blocks, slots, heads, head_dim] floats
  std::shared_ptr<void> bias_;               // device [blocks, slots] logit bias
  std::vector<std::vector<float>> bias_host_;  // what bias_ holds, per block
  kv::DeviceArray<int32_t> call_slots_;      // [blocks][call_tokens_] slots of the current call
  int64_t call_tokens_ = 0;
  kv::DeviceArray<int32_t> gather_slots_;
  kv::DeviceArray<kv::RowMerge> merges_;
  std::vector<kv::RowMerge> pending_;  // queued merges (rows over all blocks), in call order
};

}  // namespace

std::unique_ptr<KvRows> make_cuda_kv_rows(const KvStoreConfig& config) { return std::make_unique<CudaKvRows>(config); }

}  // namespace wl::cache
#endif  // WORLDLOOP_HAS_CUDA
