// Flash attention in f32: the exact path (F32) and the fallback of the bf16
// one. One block per (block of BQ queries, head); the keys and values of every
// segment stream through shared memory in tiles of BK keys (a tile never
// crosses a segment), and an online softmax (running max m and sum l per
// query) rescales the f32 output accumulator kept in registers, so the score
// matrix never exists in memory.
//
// Thread (tr, tc) of the TQ x TC threads owns QPT queries throughout (groups of
// four, 4*tr + 4*TQ*g + e), so the softmax state of a query lives in the TC
// lanes of one row group, inside one warp:
//   scores   S[q][j] = (q * scale) . k[j] + bias[j]   its queries x KPT keys tc + TC*e
//   softmax  the tile's row max across the TC lanes by shuffles; each lane keeps
//            a partial row sum, added up across the lanes at the end
//   output   O[q][c] += P[q][j] v[j][c]               its queries x CPT columns 4*tc + 4*TC*g + e
// Shared memory: Qt [D][BQ+4] (pre-scaled queries, transposed), one tile
// buffer holding first Kt [D][BK+1] and then V [BK][D], and Pt [BK][BQ+4]
// (probabilities, transposed). Head widths d up to D are zero-padded to D.
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cuda/attention_paths.h"
#include "runtime/cuda/cuda_check.h"
#include "runtime/core/error.h"

namespace wl::cuda {

namespace {

// Segments travel by value in the kernel's parameters; more than this many
// are first gathered into one.
constexpr int kMaxSegments = 32;

struct Segment {
  const float* k;     // [len, H, d]
  const float* v;     // [len, H, d]
  const float* bias;  // [len] or nullptr
  int64_t len;
};

struct Segments {
  Segment seg[kMaxSegments];
  int count;
};

// A kernel shape: head width bucket D, BQ queries per block on TQ x TC
// threads, KPT keys per thread per tile.
template <int D_, int BQ_, int TQ_, int TC_, int KPT_>
struct FlashConfig {
  static constexpr int D = D_, BQ = BQ_, TQ = TQ_, TC = TC_, KPT = KPT_;
  static constexpr int NT = TQ * TC;   // threads per block
  static constexpr int BK = TC * KPT;  // keys per tile
  static constexpr int QPT = BQ / TQ;  // queries per thread
  static constexpr int CPT = D / TC;   // output columns per thread
  static constexpr int QT_LD = BQ + 4;  // row strides in shared memory
  static constexpr int KT_LD = BK + 1;
  static constexpr int PT_LD = BQ + 4;
  static constexpr size_t kSmemFloats = size_t(D) * QT_LD + size_t(D) * KT_LD + size_t(BK) * PT_LD;
  static_assert(QPT % 4 == 0 && CPT % 4 == 0, "queries and columns go in groups of four (float4)");
  static_assert(32 % TC == 0, "the TC lanes sharing a query lie inside one warp");
  static_assert((D * QT_LD) % 4 == 0 && (D * KT_LD) % 4 == 0, "buffers start 16-byte aligned");
};

using FlashD32 = FlashConfig<32, 64, 16, 8, 4>;     // 128 threads, 32 keys per tile
using FlashD64 = FlashConfig<64, 64, 8, 16, 4>;     // 128 threads, 64 keys per tile
using FlashD128 = FlashConfig<128, 64, 8, 16, 4>;   // 128 threads, 64 keys per tile
using FlashD256 = FlashConfig<256, 32, 8, 16, 2>;   // 128 threads, 32 keys per tile

// q, out: [Lq, H, d]; grid (ceil(Lq / BQ), H).
template <class C>
__global__ void __launch_bounds__(C::NT)
    flash_attention_kernel(const float* __restrict__ q, Segments segs, float* __restrict__ out, int64_t Lq, int H,
                           int d, float scale) {
  extern __shared__ float4 smem4[];
  float* Qt = reinterpret_cast<float*>(smem4);  // [D][QT_LD]
  float* tile = Qt + C::D * C::QT_LD;           // Kt [D][KT_LD], then V [BK][D]
  float* Pt = tile + C::D * C::KT_LD;           // [BK][PT_LD]

  const int t = threadIdx.x;
  const int tc = t % C::TC, tr = t / C::TC;
  const int64_t h = blockIdx.y;
  const int64_t q0 = int64_t(blockIdx.x) * C::BQ;
  const int64_t ld = int64_t(H) * d;  // row stride of q, k, v, out

  // Qt[c][i] = q[q0 + i][h][c] * scale, zero past Lq and past d.
  for (int idx = t; idx < C::BQ * C::D; idx += C::NT) {
    const int i = idx / C::D, c = idx % C::D;
    Qt[c * C::QT_LD + i] = (q0 + i < Lq && c < d) ? q[(q0 + i) * ld + h * d + c] * scale : 0.0f;
  }

  float o[C::QPT][C::CPT];
  float m[C::QPT], l[C::QPT];  // running max; this lane's part of the running sum
#pragma unroll
  for (int i = 0; i < C::QPT; ++i) {
    m[i] = -FLT_MAX;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < C::CPT; ++c) o[i][c] = 0.0f;
  }

  for (int si = 0; si < segs.count; ++si) {
    const Segment sg = segs.seg[si];
    const float* kp = sg.k + h * d;
    const float* vp = sg.v + h * d;
    for (int64_t j0 = 0; j0 < sg.len; j0 += C::BK) {
      const int nk = static_cast<int>(sg.len - j0 < C::BK ? sg.len - j0 : C::BK);  // keys in this tile

      __syncthreads();  // the previous tile's reads of V and Pt are done (and Qt is written)
      // Kt[c][j] = k[j0 + j][h][c], zero past nk and past d.
      for (int idx = t; idx < C::BK * C::D; idx += C::NT) {
        const int j = idx / C::D, c = idx % C::D;
        tile[c * C::KT_LD + j] = (j < nk && c < d) ? kp[(j0 + j) * ld + c] : 0.0f;
      }
      __syncthreads();

      float s[C::QPT][C::KPT];
#pragma unroll
      for (int i = 0; i < C::QPT; ++i)
#pragma unroll
        for (int e = 0; e < C::KPT; ++e) s[i][e] = 0.0f;
#pragma unroll 4
      for (int c = 0; c < C::D; ++c) {
        float qv[C::QPT], kv[C::KPT];
#pragma unroll
        for (int g = 0; g < C::QPT / 4; ++g) {
          const float4 x = *reinterpret_cast<const float4*>(Qt + c * C::QT_LD + 4 * tr + 4 * C::TQ * g);
          qv[4 * g] = x.x, qv[4 * g + 1] = x.y, qv[4 * g + 2] = x.z, qv[4 * g + 3] = x.w;
        }
#pragma unroll
        for (int e = 0; e < C::KPT; ++e) kv[e] = tile[c * C::KT_LD + tc + C::TC * e];
#pragma unroll
        for (int i = 0; i < C::QPT; ++i)
#pragma unroll
          for (int e = 0; e < C::KPT; ++e) s[i][e] = fmaf(qv[i], kv[e], s[i][e]);
      }
      // Bias; keys past the tile's end get -inf (probability 0).
#pragma unroll
      for (int e = 0; e < C::KPT; ++e) {
        const int j = tc + C::TC * e;
        const float b = j < nk ? (sg.bias ? sg.bias[j0 + j] : 0.0f) : 0.0f;
#pragma unroll
        for (int i = 0; i < C::QPT; ++i) s[i][e] = j < nk ? s[i][e] + b : -INFINITY;
      }
      __syncthreads();  // every read of Kt is done: V may take the tile buffer

      // V[j][c] = v[j0 + j][h][c], zero past nk and past d (0 * garbage could be NaN).
      for (int idx = t; idx < C::BK * C::D; idx += C::NT) {
        const int j = idx / C::D, c = idx % C::D;
        tile[j * C::D + c] = (j < nk && c < d) ? vp[(j0 + j) * ld + c] : 0.0f;
      }

      // Online softmax: new running max, rescale the sum and the output, P = exp(S - max).
#pragma unroll
      for (int i = 0; i < C::QPT; ++i) {
        float mx = s[i][0];
#pragma unroll
        for (int e = 1; e < C::KPT; ++e) mx = fmaxf(mx, s[i][e]);
#pragma unroll
        for (int off = C::TC / 2; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        const float mn = fmaxf(m[i], mx);
        const float alpha = expf(m[i] - mn);
        m[i] = mn;
        float rs = 0.0f;
#pragma unroll
        for (int e = 0; e < C::KPT; ++e) {
          s[i][e] = expf(s[i][e] - mn);
          rs += s[i][e];
        }
        l[i] = l[i] * alpha + rs;
#pragma unroll
        for (int c = 0; c < C::CPT; ++c) o[i][c] *= alpha;
      }
#pragma unroll
      for (int e = 0; e < C::KPT; ++e)
#pragma unroll
        for (int g = 0; g < C::QPT / 4; ++g)
          *reinterpret_cast<float4*>(Pt + (tc + C::TC * e) * C::PT_LD + 4 * tr + 4 * C::TQ * g) =
              make_float4(s[4 * g][e], s[4 * g + 1][e], s[4 * g + 2][e], s[4 * g + 3][e]);
      __syncthreads();

      // O[q][c] += sum_j P[j][q] V[j][c]
#pragma unroll 2
      for (int j = 0; j < nk; ++j) {
        float pv[C::QPT], vv[C::CPT];
#pragma unroll
        for (int g = 0; g < C::QPT / 4; ++g) {
          const float4 x = *reinterpret_cast<const float4*>(Pt + j * C::PT_LD + 4 * tr + 4 * C::TQ * g);
          pv[4 * g] = x.x, pv[4 * g + 1] = x.y, pv[4 * g + 2] = x.z, pv[4 * g + 3] = x.w;
        }
#pragma unroll
        for (int g = 0; g < C::CPT / 4; ++g) {
          const float4 x = *reinterpret_cast<const float4*>(tile + j * C::D + 4 * tc + 4 * C::TC * g);
          vv[4 * g] = x.x, vv[4 * g + 1] = x.y, vv[4 * g + 2] = x.z, vv[4 * g + 3] = x.w;
        }
#pragma unroll
        for (int i = 0; i < C::QPT; ++i)
#pragma unroll
          for (int c = 0; c < C::CPT; ++c) o[i][c] = fmaf(pv[i], vv[c], o[i][c]);
      }
    }
  }

  // out = O / l, the row sum added up across the TC lanes of the row group.
#pragma unroll
  for (int i = 0; i < C::QPT; ++i) {
    float sum = l[i];
#pragma unroll
    for (int off = C::TC / 2; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    const float inv = 1.0f / sum;
    const int64_t qi = q0 + 4 * tr + 4 * C::TQ * (i / 4) + i % 4;
    if (qi >= Lq) continue;
#pragma unroll
    for (int c = 0; c < C::CPT; ++c) {
      const int col = 4 * tc + 4 * C::TC * (c / 4) + c % 4;
      if (col < d) out[qi * ld + h * d + col] = o[i][c] * inv;
    }
  }
}

template <class C>
void launch_flash(const Tensor& q, const Segments& segs, float scale, Tensor& out) {
  const int64_t Lq = q.dim(0);
  const int H = static_cast<int>(q.dim(1)), d = static_cast<int>(q.dim(2));
  const size_t smem = C::kSmemFloats * sizeof(float);
  // More than the default 48 KB of dynamic shared memory needs an opt-in, once.
  static const bool opted_in = [smem] {
    WL_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_kernel<C>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem)));
    return true;
  }();
  (void)opted_in;
  const dim3 grid(static_cast<unsigned>((Lq + C::BQ - 1) / C::BQ), static_cast<unsigned>(H));
  flash_attention_kernel<C><<<grid, C::NT, smem, stream()>>>(q.f32(), segs, out.f32(), Lq, H, d, scale);
  WL_CUDA_CHECK_LAUNCH();
}

// Device copy into dst at byte offset `at` (queued on the stream).
void copy_into(void* dst, size_t at, const void* src, size_t bytes) {
  if (bytes)
    WL_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + at, src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

}  // namespace

void attention_flash(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out) {
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2);
  if (Lq == 0 || H == 0 || d == 0) return;
  if (d > 256) throw Error("cuda::attention: head width " + std::to_string(d) + " is over 256");
  if (H > 65535) throw Error("cuda::attention: " + std::to_string(H) + " heads is over 65535");

  std::vector<KVSegment> used;
  int64_t total = 0;
  bool any_bias = false;
  for (const KVSegment& s : kv)
    if (s.len > 0) {
      used.push_back(s);
      total += s.len;
      any_bias = any_bias || s.bias != nullptr;
    }

  // Too many segments for the parameter block: gather keys, values (and biases,
  // zero where a segment has none) into one segment. Freed after the kernel.
  Tensor k_all, v_all, bias_all;
  if (used.size() > static_cast<size_t>(kMaxSegments)) {
    k_all = empty({total, H, d}, DType::F32);  // [S, H, d]
    v_all = empty({total, H, d}, DType::F32);
    if (any_bias) bias_all = empty({total}, DType::F32);  // [S]
    const size_t row = static_cast<size_t>(H * d) * sizeof(float);
    int64_t at = 0;
    for (const KVSegment& s : used) {
      copy_into(k_all.raw(), at * row, s.k, s.len * row);
      copy_into(v_all.raw(), at * row, s.v, s.len * row);
      if (any_bias) {
        if (s.bias)
          copy_into(bias_all.raw(), at * sizeof(float), s.bias, s.len * sizeof(float));
        else
          WL_CUDA_CHECK(cudaMemsetAsync(bias_all.f32() + at, 0, s.len * sizeof(float), stream()));
      }
      at += s.len;
    }
    used.assign(1, KVSegment{k_all.f32(), v_all.f32(), any_bias ? bias_all.f32() : nullptr, total});
  }

  Segments segs{};
  segs.count = static_cast<int>(used.size());
  for (size_t i = 0; i < used.size(); ++i) segs.seg[i] = {used[i].k, used[i].v, used[i].bias, used[i].len};

  if (d <= 32)
    launch_flash<FlashD32>(q, segs, scale, out);
  else if (d <= 64)
    launch_flash<FlashD64>(q, segs, scale, out);
  else if (d <= 128)
    launch_flash<FlashD128>(q, segs, scale, out);
  else
    launch_flash<FlashD256>(q, segs, scale, out);
}

}  // namespace wl::cuda
