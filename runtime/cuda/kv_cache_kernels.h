// The device side of the KV cache (cache/kv_rows_cuda.cpp): small device
// buffers, the kernels that move and merge cached rows (keys and values of
// one token, heads * head_dim floats), and the kernels behind the scoring
// policies' computations, whose results come back as per-slot vectors.
//
// Everything runs on cuda::stream(). Functions that return host data wait
// for it; the others queue their work and return. Pointers named as device
// memory must be device memory; small inputs passed as std::vector are
// uploaded here. Plain types only: no CUDA header is needed to include this
// one. Built only with WORLDLOOP_CUDA (guard includes with WORLDLOOP_HAS_CUDA).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace wl::cuda::kv {

// ---- device memory -------------------------------------------------------------

// `bytes` of device memory allocated on the stream and freed there when the
// last owner goes (null for 0 bytes). Throws wl::Error when out of memory.
std::shared_ptr<void> device_alloc(size_t bytes);
// Host to device, queued; `src` may be reused as soon as this returns.
void upload(void* dst, const void* src, size_t bytes);
// Device to host; waits for the data (and everything queued before it).
void download(void* dst, const void* src, size_t bytes);
void fill_zero(void* dst, size_t bytes);

// A device array that grows when asked for more and keeps its storage otherwise.
template <class T>
class DeviceArray {
 public:
  T* data() const { return static_cast<T*>(mem_.get()); }
  size_t size() const { return size_; }
  // n elements; contents are undefined after growing.
  void resize_uninitialised(size_t n) {
    if (n > capacity_) {
      mem_ = device_alloc(n * sizeof(T));
      capacity_ = n;
    }
    size_ = n;
  }
  void assign(const std::vector<T>& host) {
    resize_uninitialised(host.size());
    if (!host.empty()) upload(data(), host.data(), host.size() * sizeof(T));
  }

 private:
  std::shared_ptr<void> mem_;
  size_t size_ = 0, capacity_ = 0;
};

// ---- rows ------------------------------------------------------------------------

// Three arrays of rows with one layout: keys before RoPE, rotated keys, values.
struct RowArrays {
  float* k_raw = nullptr;
  float* k_rot = nullptr;
  float* v = nullptr;
};

// For t < n: row rows[t] (device) of each array <- row t of k_raw, k_rot, v
// (device, [n, row]).
void scatter_rows(const RowArrays& dst, const int32_t* rows, const float* k_raw, const float* k_rot, const float* v,
                  int64_t n, int64_t row);

// One merge: row into <- w_into * row into + w_from * row from.
struct RowMerge {
  int32_t into = 0, from = 0;
  float w_into = 0, w_from = 0;
};
// Applies merges[m], m < count (device), to every array. No row may appear
// in two merges of one call (they run in parallel).
void merge_rows(const RowArrays& rows, const RowMerge* merges, int64_t count, int64_t row);

// For i < n: dst row i <- src row rows[i] (rows device), zeros where rows[i] < 0.
void gather_rows(float* dst, const float* src, const int32_t* rows, int64_t n, int64_t row);

// ---- computations for the cache policies (cache/kv_rows.h says what each means) ----

// keys: one block's rotated keys [slots, heads, head_dim] (device); `slots`:
// the rows attended; bias: per slot (device, indexed by slot) or null; q
// [tokens, heads, head_dim] (device). Query i < queries is token
// ((2i+1) tokens) / (2 queries). Returns, per listed slot, the softmax share
// it receives summed over the sampled queries and the heads.
std::vector<float> attention_mass(const float* keys, const std::vector<int32_t>& slots, const float* bias,
                                  const float* q, int64_t tokens, int64_t queries, int64_t heads, int64_t head_dim,
                                  float scale);

// Per column c < row of q [tokens, row] (device): sum over tokens of q and of q^2.
void query_sums(const float* q, int64_t tokens, int64_t row, std::vector<double>& sum, std::vector<double>& sum_sq);

// The expected query (the "future" policy's proxy) over the rows `slots` of
// one block: k_rot, v are the block's rows [slots, heads, head_dim] (device);
// log_count [n]; time [offsets][heads][dt], space [heads][head_dim - dt], var
// [heads][head_dim] or empty; pairs [pairs][2] positions in `slots`.
struct ExpectedAttentionResult {
  std::vector<float> attention, score;  // [n]
  std::vector<float> cost, cosine;      // [pairs]
};
void expected_attention(const float* k_rot, const float* v, int64_t heads, int64_t head_dim,
                        const std::vector<int32_t>& slots, const std::vector<float>& log_count, int64_t dt,
                        int64_t offsets, const std::vector<float>& time, const std::vector<float>& space,
                        const std::vector<float>& var, bool weight_by_value_norm, const std::vector<int32_t>& pairs,
                        float cost_limit, ExpectedAttentionResult& out);

}  // namespace wl::cuda::kv
