// The attention kernel built for AVX2 + FMA (this file's own -m flags, set in
// runtime/CMakeLists.txt). See attention_kernels.h for why it sees only
// pointers and integers.
//
// The algorithm of attention_tiles.inc (transposed score tiles, online
// softmax) with explicit 8-lane registers, laid out for AVX2's 16 registers:
//  - scores: 2 or 4 vectors of 8 queries times 4 or 2 keys in registers, one
//    broadcast key element per FMA row;
//  - P.V: a tile of 4 query rows x 16 value columns stays in registers over
//    all keys of a chunk (the plain loop stores the output once per key);
//  - one head's value rows of a chunk are packed first (rows H*d apart map
//    onto few cache sets).
#include <immintrin.h>

#include <cfloat>
#include <cstdint>
#include <cstdlib>

#include "runtime/cpu/attention_kernels.h"
#include "runtime/cpu/simd_exp.h"

#if !defined(__AVX2__) || !defined(__FMA__)
#error "attention_avx2.cpp must be compiled with AVX2 and FMA enabled"
#endif

namespace wl::cpu {
namespace {

using detail::exp256;
constexpr int BK = kAttnChunkKeys;

// Lanes [0, rem) of 8 set (rem clamped to [0, 8]).
inline __m256i lane_mask(int64_t rem) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int r = rem <= 0 ? 0 : rem >= 8 ? 8 : static_cast<int>(rem);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), idx);
}

// S[j][:] = K[j] . Qt (+ bias[j]) for NV vectors of 8 queries, JB keys at a time.
template <int NV>
void scores(const float* Qt, const float* k, int64_t ld, int len, int64_t d, const float* bias, float* S) {
  constexpr int BQ = 8 * NV;
  constexpr int JB = NV >= 4 ? 2 : 4;
  int j = 0;
  for (; j + JB <= len; j += JB) {
    __m256 acc[JB][NV];
#pragma GCC unroll 8
    for (int a = 0; a < JB; ++a)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[a][v] = _mm256_setzero_ps();
    const float* kr = k + j * ld;
    for (int64_t c = 0; c < d; ++c) {
      __m256 qv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) qv[v] = _mm256_load_ps(Qt + c * BQ + 8 * v);
#pragma GCC unroll 8
      for (int a = 0; a < JB; ++a) {
        const __m256 kb = _mm256_broadcast_ss(kr + a * ld + c);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[a][v] = _mm256_fmadd_ps(kb, qv[v], acc[a][v]);
      }
    }
#pragma GCC unroll 8
    for (int a = 0; a < JB; ++a) {
      const __m256 b = _mm256_set1_ps(bias ? bias[j + a] : 0.0f);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) _mm256_store_ps(S + (j + a) * BQ + 8 * v, _mm256_add_ps(acc[a][v], b));
    }
  }
  for (; j < len; ++j) {
    __m256 acc[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[v] = _mm256_setzero_ps();
    const float* kr = k + j * ld;
    for (int64_t c = 0; c < d; ++c) {
      const __m256 kb = _mm256_broadcast_ss(kr + c);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(kb, _mm256_load_ps(Qt + c * BQ + 8 * v), acc[v]);
    }
    const __m256 b = _mm256_set1_ps(bias ? bias[j] : 0.0f);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) _mm256_store_ps(S + j * BQ + 8 * v, _mm256_add_ps(acc[v], b));
  }
}

// O[i][:] += sum_j P[j][i] V[j][:] for rows i < nr (a multiple of 4; O has
// them), in tiles of 4 rows x 16 columns (masked at the end of a row).
template <int BQ>
void accumulate(const float* P, const float* v, int len, int64_t d, int nr, float* O) {
  for (int64_t c0 = 0; c0 < d; c0 += 16) {
    const __m256i m0 = lane_mask(d - c0), m1 = lane_mask(d - c0 - 8);
    const float* vc = v + c0;
    for (int i = 0; i < nr; i += 4) {
      __m256 acc[4][2];
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        acc[r][0] = _mm256_maskload_ps(O + (i + r) * d + c0, m0);
        acc[r][1] = _mm256_maskload_ps(O + (i + r) * d + c0 + 8, m1);
      }
      for (int j = 0; j < len; ++j) {
        const __m256 v0 = _mm256_maskload_ps(vc + j * d, m0), v1 = _mm256_maskload_ps(vc + j * d + 8, m1);
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {
          const __m256 p = _mm256_broadcast_ss(P + j * BQ + i + r);
          acc[r][0] = _mm256_fmadd_ps(p, v0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(p, v1, acc[r][1]);
        }
      }
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        _mm256_maskstore_ps(O + (i + r) * d + c0, m0, acc[r][0]);
        _mm256_maskstore_ps(O + (i + r) * d + c0 + 8, m1, acc[r][1]);
      }
    }
  }
}

// One task = one head x a block of BQ = 8 * NV queries.
template <int NV>
void attention_blocks(const AttnProblem& p) {
  constexpr int BQ = 8 * NV;
  const int64_t Lq = p.Lq, H = p.H, d = p.d, ld = H * d;
  const int64_t nqb = (Lq + BQ - 1) / BQ, tasks = nqb * H;
  int64_t keys = 0;
  for (int64_t c = 0; c < p.nchunks; ++c) keys += p.chunks[c].len;
  const int64_t work = Lq * H * d * keys;
  const float* qp = p.q;
  float* op = p.out;
  const float scale = p.scale;
#pragma omp parallel num_threads(p.threads) if (work >= (int64_t{1} << 20))
  {
    auto alloc = [](int64_t n) { return static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(n) * 4)); };
    float* Qt = alloc(d * BQ);   // [d][BQ], pre-scaled
    float* O = alloc(BQ * d);    // [BQ][d]
    float* S = alloc(BK * BQ);   // [BK][BQ]
    float* Vp = alloc(BK * d);   // one head's value rows of a chunk, packed
    alignas(32) float M[BQ], L[BQ], al[BQ];
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t h = task / nqb, q0 = (task % nqb) * BQ;
      const int nq = static_cast<int>(Lq - q0 < BQ ? Lq - q0 : BQ);
      const int nr = (nq + 3) / 4 * 4;
      for (int i = 0; i < BQ; ++i) {
        const float* src = qp + (q0 + i) * ld + h * d;
        for (int64_t c = 0; c < d; ++c) Qt[c * BQ + i] = i < nq ? src[c] * scale : 0.0f;
      }
      for (int64_t i = 0; i < BQ * d; ++i) O[i] = 0.0f;
      for (int i = 0; i < BQ; ++i) M[i] = -FLT_MAX, L[i] = 0.0f;
      for (int64_t ci = 0; ci < p.nchunks; ++ci) {
        const AttnChunk& ch = p.chunks[ci];
        scores<NV>(Qt, ch.k + h * d, ld, ch.len, d, ch.bias, S);
        __m256 bm[NV], rs[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) bm[v] = _mm256_load_ps(M + 8 * v), rs[v] = _mm256_setzero_ps();
        for (int j = 0; j < ch.len; ++j)
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) bm[v] = _mm256_max_ps(bm[v], _mm256_load_ps(S + j * BQ + 8 * v));
        for (int j = 0; j < ch.len; ++j)
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) {
            const __m256 e = exp256(_mm256_sub_ps(_mm256_load_ps(S + j * BQ + 8 * v), bm[v]));
            _mm256_store_ps(S + j * BQ + 8 * v, e);
            rs[v] = _mm256_add_ps(rs[v], e);
          }
        bool rescale = false;
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          const __m256 alpha = exp256(_mm256_sub_ps(_mm256_load_ps(M + 8 * v), bm[v]));
          _mm256_store_ps(M + 8 * v, bm[v]);
          _mm256_store_ps(L + 8 * v, _mm256_fmadd_ps(_mm256_load_ps(L + 8 * v), alpha, rs[v]));
          rescale |= _mm256_movemask_ps(_mm256_cmp_ps(alpha, _mm256_set1_ps(1.0f), _CMP_NEQ_UQ)) != 0;
          _mm256_store_ps(al + 8 * v, alpha);
        }
        if (rescale)
          for (int i = 0; i < nr; ++i) {
            const float a = al[i];
            if (a != 1.0f)
              for (int64_t c = 0; c < d; ++c) O[i * d + c] *= a;
          }
        for (int j = 0; j < ch.len; ++j)
          for (int64_t c = 0; c < d; ++c) Vp[j * d + c] = ch.v[j * ld + h * d + c];
        accumulate<BQ>(S, Vp, ch.len, d, nr, O);
      }
      for (int i = 0; i < nq; ++i) {
        const float inv = 1.0f / L[i];
        float* dst = op + (q0 + i) * ld + h * d;
        for (int64_t c = 0; c < d; ++c) dst[c] = O[i * d + c] * inv;
      }
    }
    std::free(Qt), std::free(O), std::free(S), std::free(Vp);
  }
}

}  // namespace

// Blocks of 32 queries unless that leaves the threads without enough tasks.
void attention_avx2(const AttnProblem& p) {
  if ((p.Lq + 31) / 32 * p.H >= 2 * p.threads)
    attention_blocks<4>(p);
  else
    attention_blocks<2>(p);
}

}  // namespace wl::cpu
