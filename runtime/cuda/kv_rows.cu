// The KV cache's ops on the device (CPU twins in runtime/cpu/kv_rows.cpp):
// row scatter / gather / merge, and the scoring kernels of the cache
// policies (attention mass of sampled queries, query sums, the expected
// query's shares and pair costs). The arithmetic follows the CPU's; sums run
// in another order, so results agree to float rounding, not bit for bit
// (copies are exact). Memory is the backend's (cuda::empty, cuda::copy);
// what crosses from the host is small lists (row indices, merges, the
// expected query's parts), and what comes back is per-row score vectors.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "runtime/cuda/cuda_check.h"
#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {
namespace {

constexpr int kThreads = 256;           // threads per block everywhere
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr int64_t kMaxGrid = 1 << 20;   // grid-stride loops cover the rest

// Blocks for a grid-stride loop over n items, one per thread.
unsigned int grid_for(int64_t n) {
  return static_cast<unsigned int>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxGrid));
}

// Blocks for one warp per item, n items (each warp returns past the end).
unsigned int grid_for_warps(int64_t n) {
  const int64_t blocks = (n + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (blocks > 0x7fffffff) throw Error("kv rows: " + std::to_string(n) + " warps exceed one grid");
  return static_cast<unsigned int>(std::max<int64_t>(blocks, 1));
}

__device__ __forceinline__ int64_t thread_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t thread_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

// Sum / max over a block of kThreads threads; every thread gets the result.
template <bool kMax>
__device__ float block_reduce(float x) {
  __shared__ float part[kWarpsPerBlock];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  x = kMax ? warp_max(x) : warp_sum(x);
  __syncthreads();  // a previous call may still read `part`
  if (lane == 0) part[warp] = x;
  __syncthreads();
  const float identity = kMax ? -INFINITY : 0.0f;
  x = lane < kWarpsPerBlock ? part[lane] : identity;
  return kMax ? warp_max(x) : warp_sum(x);
}

// ---- rows -------------------------------------------------------------------------

__global__ void scatter_rows_kernel(float* table, const int32_t* index, const float* rows, int64_t n, int64_t row) {
  const int64_t total = n * row;
  for (int64_t i = thread_index(); i < total; i += thread_stride()) {
    const int64_t t = i / row, e = i - t * row;
    table[static_cast<int64_t>(index[t]) * row + e] = rows[i];
  }
}

__global__ void merge_rows_kernel(float* table, const ops::RowMerge* merges, int64_t count, int64_t row) {
  const int64_t total = count * row;
  for (int64_t i = thread_index(); i < total; i += thread_stride()) {
    const int64_t m = i / row, e = i - m * row;
    const ops::RowMerge mg = merges[m];
    const int64_t a = static_cast<int64_t>(mg.into) * row + e, c = static_cast<int64_t>(mg.from) * row + e;
    table[a] = mg.w_into * table[a] + mg.w_from * table[c];
  }
}

__global__ void gather_rows_kernel(float* dst, const float* src, const int32_t* rows, int64_t n, int64_t row) {
  const int64_t total = n * row;
  for (int64_t i = thread_index(); i < total; i += thread_stride()) {
    const int64_t t = i / row, e = i - t * row;
    const int32_t from = rows[t];
    dst[i] = from >= 0 ? src[static_cast<int64_t>(from) * row + e] : 0.0f;
  }
}

// ---- shares of a softmax over rows of logits ---------------------------------------

// One block per row r: max and 1 / sum of exp of logits[r] (n entries), or
// of logits[r] + add[r % add_rows] when `add` is given (the expected query's
// per-head base plus per-offset time term).
__global__ void softmax_stats_kernel(const float* logits, const float* add, int64_t add_rows, int64_t n,
                                     float* row_max, float* row_inv) {
  const int64_t r = blockIdx.x;
  const float* l = logits + r * n;
  const float* a = add ? add + (r % add_rows) * n : nullptr;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, a ? l[j] + a[j] : l[j]);
  m = block_reduce<true>(m);
  float sum = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) sum += expf((a ? l[j] + a[j] : l[j]) - m);
  sum = block_reduce<false>(sum);
  if (threadIdx.x == 0) {
    row_max[r] = m;
    row_inv[r] = 1.0f / sum;
  }
}

// ---- observed: attention mass of sampled queries -------------------------------------

// One warp per (listed slot j, head h): the logits of every sampled query,
// logits[(i * heads + h) * n + j].
__global__ void mass_logits_kernel(const float* keys, const int32_t* slots, int64_t n, const float* bias,
                                   const float* q, int64_t tokens, int64_t queries, int64_t heads, int64_t d,
                                   float scale, float* logits) {
  const int64_t w = thread_index() / 32;
  const int lane = threadIdx.x % 32;
  if (w >= n * heads) return;  // whole warps: blockDim is a multiple of 32
  const int64_t j = w / heads, h = w % heads;
  const int64_t slot = slots[j];
  const float* k = keys + (slot * heads + h) * d;
  const float b = bias ? bias[slot] : 0.0f;
  for (int64_t i = 0; i < queries; ++i) {
    const int64_t t = ((2 * i + 1) * tokens) / (2 * queries);
    const float* qi = q + (t * heads + h) * d;
    float dot = 0;
    for (int64_t e = lane; e < d; e += 32) dot += qi[e] * k[e];
    dot = warp_sum(dot);
    if (lane == 0) logits[(i * heads + h) * n + j] = dot * scale + b;
  }
}

// One thread per slot j: its share summed over the `rows` softmax rows.
__global__ void collect_shares_kernel(const float* logits, int64_t rows, int64_t n, const float* row_max,
                                      const float* row_inv, float* out) {
  for (int64_t j = thread_index(); j < n; j += thread_stride()) {
    float acc = 0;
    for (int64_t r = 0; r < rows; ++r) acc += expf(logits[r * n + j] - row_max[r]) * row_inv[r];
    out[j] = acc;
  }
}

// ---- future: query sums ---------------------------------------------------------------

// Block (x, y): columns x*kThreads.., tokens [y*per_chunk, (y+1)*per_chunk);
// partial[(y * 2 + 0) * row + c] = sum of q, (y * 2 + 1): sum of q^2.
__global__ void query_partial_sums_kernel(const float* q, int64_t tokens, int64_t row, int64_t per_chunk,
                                          double* partial) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= row) return;
  const int64_t t0 = static_cast<int64_t>(blockIdx.y) * per_chunk;
  const int64_t t1 = t0 + per_chunk < tokens ? t0 + per_chunk : tokens;
  double s = 0, s2 = 0;
  for (int64_t t = t0; t < t1; ++t) {
    const double x = q[t * row + c];
    s += x;
    s2 += x * x;
  }
  partial[(blockIdx.y * 2) * row + c] = s;
  partial[(blockIdx.y * 2 + 1) * row + c] = s2;
}

// out[k * row + c] = sum over chunks of partial[(chunk * 2 + k) * row + c].
__global__ void sum_partials_kernel(const double* partial, int64_t chunks, int64_t row, double* out) {
  for (int64_t i = thread_index(); i < 2 * row; i += thread_stride()) {
    const int64_t k = i / row, c = i - k * row;
    double acc = 0;
    for (int64_t ch = 0; ch < chunks; ++ch) acc += partial[(ch * 2 + k) * row + c];
    out[i] = acc;
  }
}

// ---- future: the expected query's view of the cached keys --------------------------------

struct ProxyScratch {
  float* logit;  // [H][n] space + mean over offsets of time: what pair costs compare
  float* base;   // [H][n] space + variance + log count
  float* tdot;   // [O][H][n] time part per offset
  float* vsq;    // [H][n] |v_hj|^2
};

// One warp per (slot j, head h): the dot products of the key with the
// expected query's parts, and the value's squared norm.
__global__ void proxy_terms_kernel(const float* k_rot, const float* v, const int32_t* slots, const float* log_count,
                                   int64_t n, int64_t heads, int64_t d, int64_t dt, int64_t offsets, const float* time,
                                   const float* space, const float* var, ProxyScratch out) {
  const int64_t w = thread_index() / 32;
  const int lane = threadIdx.x % 32;
  if (w >= n * heads) return;
  const int64_t j = w / heads, h = w % heads;
  const int64_t base_row = (static_cast<int64_t>(slots[j]) * heads + h) * d;
  const float* k = k_rot + base_row;
  const float* vh = v + base_row;
  const float* sp = space + h * (d - dt);
  float space_dot = 0, var_term = 0, v_sq = 0;
  for (int64_t e = lane; e < d; e += 32) {
    const float x = k[e];
    if (e >= dt) space_dot += sp[e - dt] * x;
    if (var) var_term += var[h * d + e] * x * x;
    v_sq += vh[e] * vh[e];
  }
  space_dot = warp_sum(space_dot);
  var_term = warp_sum(var_term);
  v_sq = warp_sum(v_sq);
  float time_mean = 0;
  for (int64_t o = 0; o < offsets; ++o) {
    const float* tm = time + (o * heads + h) * dt;
    float t = 0;
    for (int64_t e = lane; e < dt; e += 32) t += tm[e] * k[e];
    t = warp_sum(t);
    if (lane == 0) out.tdot[(o * heads + h) * n + j] = t;
    time_mean += t;
  }
  if (lane == 0) {
    out.logit[h * n + j] = space_dot + time_mean / static_cast<float>(offsets);
    out.base[h * n + j] = space_dot + var_term + log_count[j];
    out.vsq[h * n + j] = v_sq;
  }
}

// One block per head: 1 / mean over slots of |v_hj| (0 when the mean is 0).
__global__ void value_scale_kernel(const float* vsq, int64_t n, float* inv_mean) {
  const int64_t h = blockIdx.x;
  float sum = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) sum += sqrtf(vsq[h * n + j]);
  sum = block_reduce<false>(sum);
  if (threadIdx.x == 0) {
    const float mean = sum / static_cast<float>(n);
    inv_mean[h] = mean > 0 ? 1.0f / mean : 0.0f;
  }
}

// One thread per slot j: share and value-weighted share, mean over heads and offsets.
__global__ void proxy_collect_kernel(ProxyScratch p, int64_t n, int64_t heads, int64_t offsets, const float* row_max,
                                     const float* row_inv, const float* inv_mean, float* attention, float* score) {
  const float unit = 1.0f / static_cast<float>(heads * offsets);
  for (int64_t j = thread_index(); j < n; j += thread_stride()) {
    float att = 0, sc = 0;
    for (int64_t h = 0; h < heads; ++h) {
      const float w = inv_mean ? sqrtf(p.vsq[h * n + j]) * inv_mean[h] : 1.0f;
      float a = 0, s = 0;
      for (int64_t o = 0; o < offsets; ++o) {
        const int64_t r = o * heads + h;
        const float share = expf(p.base[h * n + j] + p.tdot[r * n + j] - row_max[r]) * row_inv[r];
        a += share;
        s += share * w;
      }
      att += a * unit;
      sc += s * unit;
    }
    attention[j] = att;
    score[j] = sc;
  }
}

// One warp per pair: the largest expected-logit difference over heads and,
// below the limit, the cosine of the two values.
__global__ void pair_terms_kernel(ProxyScratch p, const float* v, const int32_t* slots, const int32_t* pairs,
                                  int64_t count, int64_t n, int64_t heads, int64_t d, float limit, float* cost_out,
                                  float* cosine_out) {
  const int64_t w = thread_index() / 32;
  const int lane = threadIdx.x % 32;
  if (w >= count) return;
  const int64_t ja = pairs[2 * w], jc = pairs[2 * w + 1];
  float cost = 0;
  for (int64_t h = lane; h < heads; h += 32) cost = fmaxf(cost, fabsf(p.logit[h * n + ja] - p.logit[h * n + jc]));
  cost = warp_max(cost);
  float cosine = __int_as_float(0x7fc00000);  // NaN: not asked for
  if (cost < limit) {  // the same in every lane
    float na = 0, nc = 0;
    for (int64_t h = lane; h < heads; h += 32) {
      na += p.vsq[h * n + ja];
      nc += p.vsq[h * n + jc];
    }
    na = warp_sum(na);
    nc = warp_sum(nc);
    const int64_t row = heads * d;
    const float* va = v + static_cast<int64_t>(slots[ja]) * row;
    const float* vc = v + static_cast<int64_t>(slots[jc]) * row;
    float dot = 0;
    for (int64_t e = lane; e < row; e += 32) dot += va[e] * vc[e];
    dot = warp_sum(dot);
    cosine = na > 0 && nc > 0 ? dot / sqrtf(na * nc) : (na == nc ? 1.0f : 0.0f);
  }
  if (lane == 0) {
    cost_out[w] = cost;
    cosine_out[w] = cosine;
  }
}

// ---- small lists between host and device ---------------------------------------------

// Floats in one row of a table [R, ...].
int64_t row_size(const Tensor& t) {
  int64_t n = 1;
  for (int i = 1; i < t.rank(); ++i) n *= t.dim(i);
  return n;
}

// `words` 4-byte words of host data in fresh device memory (queued; `host`
// may be reused when this returns).
Tensor upload_words(const void* host, int64_t words) {
  Tensor dev = cuda::empty({words}, DType::F32);
  const Tensor src = Tensor::view(const_cast<void*>(host), {words}, DType::F32, nullptr, Backend::CPU);
  cuda::copy(src, dev);
  return dev;
}

// Device to host; waits for the data (and everything queued before it).
void download(void* host, const void* dev, size_t bytes) {
  if (bytes == 0) return;
  const int64_t words = static_cast<int64_t>(bytes / 4);
  const Tensor src = Tensor::view(const_cast<void*>(dev), {words}, DType::F32, nullptr, Backend::CUDA);
  Tensor dst = Tensor::view(host, {words}, DType::F32, nullptr, Backend::CPU);
  cuda::copy(src, dst);
}

// Index and merge lists on the device. The last few lists stay uploaded and
// are found again by content, so the slots written to a block's three
// tables, or to every block of a call, cross to the device once. An entry is
// never overwritten (kernels queued earlier may still read it); a new list
// takes fresh memory and the least recently used entry's memory is freed on
// the stream, after those kernels.
class DeviceLists {
 public:
  template <class T>
  const T* get(const std::vector<T>& host) {
    static_assert(sizeof(T) % 4 == 0, "lists are whole 4-byte words");
    if (host.empty()) return nullptr;
    const size_t bytes = host.size() * sizeof(T);
    std::lock_guard<std::mutex> lock(mutex_);
    ++clock_;
    for (Entry& e : entries_)
      if (e.bytes.size() == bytes && std::memcmp(e.bytes.data(), host.data(), bytes) == 0) {
        e.last_use = clock_;
        return static_cast<const T*>(e.dev.raw());
      }
    if (entries_.size() < kEntries) entries_.emplace_back();
    Entry& e = *std::min_element(entries_.begin(), entries_.end(),
                                 [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
    e.dev = upload_words(host.data(), static_cast<int64_t>(bytes / 4));
    const auto* p = reinterpret_cast<const unsigned char*>(host.data());
    e.bytes.assign(p, p + bytes);
    e.last_use = clock_;
    return static_cast<const T*>(e.dev.raw());
  }

 private:
  static constexpr size_t kEntries = 8;
  struct Entry {
    std::vector<unsigned char> bytes;
    Tensor dev;
    uint64_t last_use = 0;
  };
  std::mutex mutex_;
  std::vector<Entry> entries_;
  uint64_t clock_ = 0;
};

template <class T>
const T* on_device(const std::vector<T>& host) {
  static DeviceLists* lists = new DeviceLists;  // lives as long as the process (as memory.cu's staging)
  return lists->get(host);
}

}  // namespace

// ---- rows ---------------------------------------------------------------------------------

void set_rows(Tensor& table, const std::vector<int32_t>& index, const Tensor& rows) {
  const int64_t n = static_cast<int64_t>(index.size()), row = row_size(table);
  if (n == 0 || row == 0) return;
  scatter_rows_kernel<<<grid_for(n * row), kThreads, 0, stream()>>>(table.f32(), on_device(index), rows.f32(), n, row);
  WL_CUDA_CHECK_LAUNCH();
}

void get_rows(const Tensor& table, const std::vector<int32_t>& index, Tensor& out) {
  const int64_t n = static_cast<int64_t>(index.size()), row = row_size(table);
  if (n == 0 || row == 0) return;
  gather_rows_kernel<<<grid_for(n * row), kThreads, 0, stream()>>>(out.f32(), table.f32(), on_device(index), n, row);
  WL_CUDA_CHECK_LAUNCH();
}

// The merges in waves: a merge goes into the wave after the last one that
// touched either of its rows, so merges within a wave share no row and run in
// parallel, and chains (a <- b, then a <- c) keep their order.
void merge_rows(Tensor& table, const std::vector<ops::RowMerge>& merges) {
  const int64_t row = row_size(table);
  if (merges.empty() || row == 0) return;
  std::unordered_map<int32_t, int64_t> last_wave;  // row -> wave that last touched it
  std::vector<int64_t> wave(merges.size());
  int64_t waves = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    int64_t w = 0;
    for (int32_t r : {merges[i].into, merges[i].from}) {
      auto it = last_wave.find(r);
      if (it != last_wave.end()) w = std::max(w, it->second + 1);
    }
    last_wave[merges[i].into] = last_wave[merges[i].from] = w;
    wave[i] = w;
    waves = std::max(waves, w + 1);
  }
  std::vector<int64_t> start(static_cast<size_t>(waves + 1), 0);  // merges of wave w: [start[w], start[w+1])
  for (int64_t w : wave) ++start[w + 1];
  for (int64_t w = 0; w < waves; ++w) start[w + 1] += start[w];
  std::vector<ops::RowMerge> sorted(merges.size());
  std::vector<int64_t> next(start.begin(), start.end() - 1);
  for (size_t i = 0; i < merges.size(); ++i) sorted[next[wave[i]]++] = merges[i];
  const ops::RowMerge* dev = on_device(sorted);
  for (int64_t w = 0; w < waves; ++w) {
    const int64_t count = start[w + 1] - start[w];
    merge_rows_kernel<<<grid_for(count * row), kThreads, 0, stream()>>>(table.f32(), dev + start[w], count, row);
    WL_CUDA_CHECK_LAUNCH();
  }
}

// ---- scores over cached keys ----------------------------------------------------------------

std::vector<float> attention_mass(const Tensor& q, const Tensor& keys, const std::vector<int32_t>& slots,
                                  const Tensor& bias, int64_t queries, float scale) {
  const int64_t n = static_cast<int64_t>(slots.size()), tokens = q.dim(0), heads = keys.dim(1),
                head_dim = keys.dim(2), rows = queries * heads;
  std::vector<float> received(static_cast<size_t>(n), 0.0f);
  if (n == 0 || queries <= 0 || tokens <= 0) return received;
  const int32_t* slots_dev = on_device(slots);
  // logits [rows][n], then the rows' max and 1 / sum, then the result [n].
  Tensor scratch = cuda::empty({rows * n + 2 * rows + n}, DType::F32);
  float* logits = scratch.f32();
  float* row_max = logits + rows * n;
  float* row_inv = row_max + rows;
  float* out = row_inv + rows;
  mass_logits_kernel<<<grid_for_warps(n * heads), kThreads, 0, stream()>>>(
      keys.f32(), slots_dev, n, bias.defined() ? bias.f32() : nullptr, q.f32(), tokens, queries, heads, head_dim,
      scale, logits);
  WL_CUDA_CHECK_LAUNCH();
  softmax_stats_kernel<<<static_cast<unsigned int>(rows), kThreads, 0, stream()>>>(logits, nullptr, 1, n, row_max,
                                                                                  row_inv);
  WL_CUDA_CHECK_LAUNCH();
  collect_shares_kernel<<<grid_for(n), kThreads, 0, stream()>>>(logits, rows, n, row_max, row_inv, out);
  WL_CUDA_CHECK_LAUNCH();
  download(received.data(), out, received.size() * sizeof(float));
  return received;
}

void query_sums(const Tensor& x, std::vector<double>& sum, std::vector<double>& sum_sq) {
  const int64_t tokens = x.dim(0), row = row_size(x);
  sum.assign(static_cast<size_t>(row), 0.0);
  sum_sq.assign(static_cast<size_t>(row), 0.0);
  if (tokens <= 0 || row <= 0) return;
  const int64_t per_chunk = std::max<int64_t>(64, (tokens + 65534) / 65535);  // gridDim.y <= 65535
  const int64_t chunks = (tokens + per_chunk - 1) / per_chunk;
  // partial [chunks][2][row], then out [2][row], in doubles (two floats each).
  Tensor scratch = cuda::empty({2 * (2 * chunks * row + 2 * row)}, DType::F32);
  double* partial = static_cast<double*>(scratch.raw());
  double* out = partial + 2 * chunks * row;
  const dim3 grid(static_cast<unsigned int>((row + kThreads - 1) / kThreads), static_cast<unsigned int>(chunks));
  query_partial_sums_kernel<<<grid, kThreads, 0, stream()>>>(x.f32(), tokens, row, per_chunk, partial);
  WL_CUDA_CHECK_LAUNCH();
  sum_partials_kernel<<<grid_for(2 * row), kThreads, 0, stream()>>>(partial, chunks, row, out);
  WL_CUDA_CHECK_LAUNCH();
  std::vector<double> both(static_cast<size_t>(2 * row));
  download(both.data(), out, both.size() * sizeof(double));
  std::copy(both.begin(), both.begin() + row, sum.begin());
  std::copy(both.begin() + row, both.end(), sum_sq.begin());
}

ops::ExpectedScores expected_attention(const Tensor& keys, const Tensor& values, const std::vector<int32_t>& slots,
                                       const std::vector<float>& log_count, const ops::ExpectedQuery& q,
                                       bool weight_by_value_norm, const std::vector<ops::RowPair>& pair_list,
                                       float cost_limit) {
  const int64_t n = static_cast<int64_t>(slots.size()), H = keys.dim(1), d = keys.dim(2), O = q.offsets, dt = q.dt;
  const int64_t count = static_cast<int64_t>(pair_list.size());
  ops::ExpectedScores out;
  if (n == 0 || O <= 0) return out;  // as on the CPU: nothing to score, nothing filled
  std::vector<int32_t> pairs;  // [pairs][2]
  pairs.reserve(2 * pair_list.size());
  for (const ops::RowPair& p : pair_list) {
    pairs.push_back(p.a);
    pairs.push_back(p.b);
  }
  const std::vector<float>& time = q.time;
  const std::vector<float>& space = q.space;
  const std::vector<float>& var = q.var;

  // Inputs, one upload: slots and pairs (int32), then log counts and the
  // query's parts (float), each 4 bytes.
  const size_t n_var = var.size();
  std::vector<uint32_t> packed(slots.size() + pairs.size() + log_count.size() + time.size() + space.size() + n_var);
  uint32_t* at = packed.data();
  auto put = [&at](const void* src, size_t words) {
    if (words) std::memcpy(at, src, words * 4);
    at += words;
  };
  put(slots.data(), slots.size());
  put(pairs.data(), pairs.size());
  put(log_count.data(), log_count.size());
  put(time.data(), time.size());
  put(space.data(), space.size());
  put(var.data(), n_var);
  const Tensor in = upload_words(packed.data(), static_cast<int64_t>(packed.size()));
  const int32_t* slots_dev = static_cast<const int32_t*>(in.raw());
  const int32_t* pairs_dev = slots_dev + slots.size();
  const float* log_count_dev = reinterpret_cast<const float*>(pairs_dev + pairs.size());
  const float* time_dev = log_count_dev + log_count.size();
  const float* space_dev = time_dev + time.size();
  const float* var_dev = n_var ? space_dev + space.size() : nullptr;

  // Scratch: logit, base, vsq [H][n], tdot [O][H][n], row stats [O*H] x2,
  // inv_mean [H], then the results: attention, score [n], cost, cosine [pairs].
  const int64_t scratch_floats = (3 + O) * H * n + 2 * O * H + H + 2 * n + 2 * count;
  Tensor scratch = cuda::empty({scratch_floats}, DType::F32);
  float* f = scratch.f32();
  ProxyScratch p;
  p.logit = f;
  p.base = p.logit + H * n;
  p.vsq = p.base + H * n;
  p.tdot = p.vsq + H * n;
  float* row_max = p.tdot + O * H * n;
  float* row_inv = row_max + O * H;
  float* inv_mean = row_inv + O * H;
  float* result = inv_mean + H;  // attention [n], score [n], cost [count], cosine [count]

  proxy_terms_kernel<<<grid_for_warps(n * H), kThreads, 0, stream()>>>(keys.f32(), values.f32(), slots_dev,
                                                                       log_count_dev, n, H, d, dt, O, time_dev,
                                                                       space_dev, var_dev, p);
  WL_CUDA_CHECK_LAUNCH();
  // Row r = o * H + h of tdot plus row h of base: r % H picks the head.
  softmax_stats_kernel<<<static_cast<unsigned int>(O * H), kThreads, 0, stream()>>>(p.tdot, p.base, H, n, row_max,
                                                                                   row_inv);
  WL_CUDA_CHECK_LAUNCH();
  if (weight_by_value_norm) {
    value_scale_kernel<<<static_cast<unsigned int>(H), kThreads, 0, stream()>>>(p.vsq, n, inv_mean);
    WL_CUDA_CHECK_LAUNCH();
  }
  proxy_collect_kernel<<<grid_for(n), kThreads, 0, stream()>>>(p, n, H, O, row_max, row_inv,
                                                               weight_by_value_norm ? inv_mean : nullptr, result,
                                                               result + n);
  WL_CUDA_CHECK_LAUNCH();
  if (count > 0) {
    pair_terms_kernel<<<grid_for_warps(count), kThreads, 0, stream()>>>(p, values.f32(), slots_dev, pairs_dev, count,
                                                                        n, H, d, cost_limit, result + 2 * n,
                                                                        result + 2 * n + count);
    WL_CUDA_CHECK_LAUNCH();
  }
  std::vector<float> all(static_cast<size_t>(2 * n + 2 * count));
  download(all.data(), result, all.size() * sizeof(float));
  out.attention.assign(all.begin(), all.begin() + n);
  out.score.assign(all.begin() + n, all.begin() + 2 * n);
  out.pair_cost.assign(all.begin() + 2 * n, all.begin() + 2 * n + count);
  out.pair_cosine.assign(all.begin() + 2 * n + count, all.end());
  return out;
}

}  // namespace wl::cuda
