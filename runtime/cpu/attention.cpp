// Attention, flash-style: per (head, block of BQ queries) the keys stream by
// in chunks of at most BK (a chunk never crosses a KV segment), with an online
// max / sum so only a BK x BQ score tile and a BQ x d accumulator live at once.
//
// Scores are kept transposed (S[key][query]): the query block is transposed
// and pre-scaled once per task into Qt[d][BQ], so the score kernel broadcasts
// a key element and multiplies it into a row of BQ queries (vectorised over
// queries, no horizontal sums), and the softmax statistics (max, sum, rescale)
// are vector operations over the BQ queries.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include <omp.h>

#include "runtime/cpu/ops_cpu.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace wl::cpu {

using detail::fast_exp;

namespace {

constexpr int BK = 64;  // keys per chunk

struct Chunk {
  const float* k;     // first key row of the chunk (head offset not yet applied)
  const float* v;
  const float* bias;  // or nullptr
  int len;
};

// S[j][i] = sum_c K[j][c] Qt[c][i] (+ bias[j]) for j < len, i < BQ.
template <int BQ>
void scores(const float* Qt, const float* k, int64_t ld, int len, int64_t d, const float* bias, float* S) {
  for (int j = 0; j < len; ++j) {
    float acc[BQ] = {};
    const float* kr = k + j * ld;
    for (int64_t c = 0; c < d; ++c) {
      const float kc = kr[c];
      const float* qt = Qt + c * BQ;
#pragma omp simd
      for (int i = 0; i < BQ; ++i) acc[i] += kc * qt[i];
    }
    const float b = bias ? bias[j] : 0.0f;
#pragma omp simd
    for (int i = 0; i < BQ; ++i) S[j * BQ + i] = acc[i] + b;
  }
}

// O[i][:] += sum_j P[j][i] V[j][:] for i < nq, j < len.
template <int BQ>
void accumulate(const float* P, const float* v, int64_t ld, int len, int64_t d, int nq, float* O) {
  for (int i = 0; i < nq; ++i) {
    float* o = O + i * d;
    for (int j = 0; j < len; ++j) {
      const float p = P[j * BQ + i];
      const float* vr = v + j * ld;
#pragma omp simd
      for (int64_t c = 0; c < d; ++c) o[c] += p * vr[c];
    }
  }
}

template <int BQ>
void attention_impl(const Tensor& q, const std::vector<Chunk>& chunks, float scale, Tensor& out) {
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2), ld = H * d;
  const int64_t nqb = (Lq + BQ - 1) / BQ;
  const int64_t tasks = nqb * H;
  const float* qp = q.f32();
  float* op = out.f32();
#pragma omp parallel
  {
    std::vector<float> Qt(static_cast<size_t>(d * BQ)), S(static_cast<size_t>(BK * BQ)),
        O(static_cast<size_t>(BQ * d));
    alignas(64) float m[BQ], l[BQ], alpha[BQ], bm[BQ], rs[BQ];
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t h = task % H, qb = task / H;
      const int64_t q0 = qb * BQ;
      const int nq = static_cast<int>(std::min<int64_t>(BQ, Lq - q0));
      for (int64_t c = 0; c < d; ++c)
        for (int i = 0; i < BQ; ++i) Qt[c * BQ + i] = i < nq ? qp[(q0 + i) * ld + h * d + c] * scale : 0.0f;
      std::fill(O.begin(), O.end(), 0.0f);
      for (int i = 0; i < BQ; ++i) m[i] = -FLT_MAX, l[i] = 0.0f;
      for (const Chunk& ch : chunks) {
        float* Sp = S.data();
        scores<BQ>(Qt.data(), ch.k + h * d, ld, ch.len, d, ch.bias, Sp);
        for (int i = 0; i < BQ; ++i) bm[i] = -FLT_MAX, rs[i] = 0.0f;
        for (int j = 0; j < ch.len; ++j)
#pragma omp simd
          for (int i = 0; i < BQ; ++i) bm[i] = std::max(bm[i], Sp[j * BQ + i]);
#pragma omp simd
        for (int i = 0; i < BQ; ++i) {
          const float mn = std::max(m[i], bm[i]);
          alpha[i] = fast_exp(m[i] - mn);
          m[i] = mn;
        }
        for (int j = 0; j < ch.len; ++j)
#pragma omp simd
          for (int i = 0; i < BQ; ++i) {
            const float p = fast_exp(Sp[j * BQ + i] - m[i]);
            Sp[j * BQ + i] = p;
            rs[i] += p;
          }
#pragma omp simd
        for (int i = 0; i < BQ; ++i) l[i] = l[i] * alpha[i] + rs[i];
        for (int i = 0; i < nq; ++i) {
          const float a = alpha[i];
          if (a != 1.0f)
#pragma omp simd
            for (int64_t c = 0; c < d; ++c) O[i * d + c] *= a;
        }
        accumulate<BQ>(Sp, ch.v + h * d, ld, ch.len, d, nq, O.data());
      }
      for (int i = 0; i < nq; ++i) {
        const float inv = 1.0f / l[i];
        float* dst = op + (q0 + i) * ld + h * d;
        for (int64_t c = 0; c < d; ++c) dst[c] = O[i * d + c] * inv;
      }
    }
  }
}

}  // namespace

void attention(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out) {
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2);
  if (Lq == 0 || H == 0 || d == 0) return;
  const int64_t ld = H * d;
  std::vector<Chunk> chunks;
  for (const KVSegment& s : kv)
    for (int64_t j0 = 0; j0 < s.len; j0 += BK)
      chunks.push_back({s.k + j0 * ld, s.v + j0 * ld, s.bias ? s.bias + j0 : nullptr,
                        static_cast<int>(std::min<int64_t>(BK, s.len - j0))});
  // Query blocks of 64 rows unless that leaves the threads without enough tasks.
  const int64_t threads = omp_get_max_threads();
  if ((Lq + 63) / 64 * H >= 4 * threads)
    attention_impl<64>(q, chunks, scale, out);
  else if ((Lq + 31) / 32 * H >= 2 * threads)
    attention_impl<32>(q, chunks, scale, out);
  else
    attention_impl<16>(q, chunks, scale, out);
}

}  // namespace wl::cpu
