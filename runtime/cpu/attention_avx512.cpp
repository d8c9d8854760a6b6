// The attention kernel built for AVX-512 (F, DQ, BW, VL; this file's own -m
// flags, set in runtime/CMakeLists.txt). See attention_kernels.h for why it
// sees only pointers and integers.
//
// Same algorithm as attention_tiles.inc (transposed score tiles, online
// softmax), with explicit 16-lane registers, groups of heads per task and a
// software prefetch of the next key chunk.
#include <cfloat>
#include <cstdint>
#include <cstdlib>

#include "runtime/cpu/attention_kernels.h"
#include "runtime/cpu/simd_exp.h"

#if !defined(__AVX512F__)
#error "attention_avx512.cpp must be compiled with AVX-512 enabled"
#endif

namespace wl::cpu {
namespace {

using detail::exp512;
constexpr int BK = kAttnChunkKeys;

// S[j][:] = K[j] . Qt (+ bias[j]), NV vectors of 16 queries per key, JB keys
// at a time (JB * NV accumulators).
template <int NV>
void scores_avx512(const float* Qt, const float* k, int64_t ld, int len, int64_t d, const float* bias, float* S) {
  constexpr int BQ = 16 * NV;
  constexpr int JB = NV >= 4 ? 4 : 8;
  int j = 0;
  for (; j + JB <= len; j += JB) {
    __m512 acc[JB][NV];
    #pragma GCC unroll 16
    for (int a = 0; a < JB; ++a)
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[a][v] = _mm512_setzero_ps();
    const float* kr = k + j * ld;
    for (int64_t c = 0; c < d; ++c) {
      __m512 qv[NV];
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) qv[v] = _mm512_load_ps(Qt + c * BQ + 16 * v);
      #pragma GCC unroll 16
      for (int a = 0; a < JB; ++a) {
        const __m512 kb = _mm512_set1_ps(kr[a * ld + c]);
        #pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[a][v] = _mm512_fmadd_ps(kb, qv[v], acc[a][v]);
      }
    }
    #pragma GCC unroll 16
    for (int a = 0; a < JB; ++a) {
      const __m512 b = _mm512_set1_ps(bias ? bias[j + a] : 0.0f);
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) _mm512_store_ps(S + (j + a) * BQ + 16 * v, _mm512_add_ps(acc[a][v], b));
    }
  }
  for (; j < len; ++j) {
    __m512 acc[NV];
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[v] = _mm512_setzero_ps();
    const float* kr = k + j * ld;
    for (int64_t c = 0; c < d; ++c) {
      const __m512 kb = _mm512_set1_ps(kr[c]);
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[v] = _mm512_fmadd_ps(kb, _mm512_load_ps(Qt + c * BQ + 16 * v), acc[v]);
    }
    const __m512 b = _mm512_set1_ps(bias ? bias[j] : 0.0f);
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) _mm512_store_ps(S + j * BQ + 16 * v, _mm512_add_ps(acc[v], b));
  }
}

// O[i][:] += sum_j P[j][i] V[j][:] for the rows i < nr (a multiple of 4, O has
// them), in tiles of 4 rows x 64 columns (masked at the end of a row).
template <int BQ>
void accumulate_avx512(const float* P, const float* v, int64_t ld, int len, int64_t d, int nr, float* O) {
  for (int64_t c0 = 0; c0 < d; c0 += 64) {
    __mmask16 mk[4];
    #pragma GCC unroll 16
    for (int t = 0; t < 4; ++t) {
      const int64_t rem = d - (c0 + 16 * t);
      mk[t] = rem >= 16 ? __mmask16(0xFFFF) : rem <= 0 ? __mmask16(0) : __mmask16((1u << rem) - 1u);
    }
    const float* vc = v + c0;
    for (int i = 0; i < nr; i += 4) {
      __m512 acc[4][4];
      #pragma GCC unroll 16
      for (int r = 0; r < 4; ++r)
        #pragma GCC unroll 16
        for (int t = 0; t < 4; ++t) acc[r][t] = _mm512_maskz_loadu_ps(mk[t], O + (i + r) * d + c0 + 16 * t);
      for (int j = 0; j < len; ++j) {
        __m512 vv[4];
        #pragma GCC unroll 16
        for (int t = 0; t < 4; ++t) vv[t] = _mm512_maskz_loadu_ps(mk[t], vc + j * ld + 16 * t);
        #pragma GCC unroll 16
        for (int r = 0; r < 4; ++r) {
          const __m512 p = _mm512_set1_ps(P[j * BQ + i + r]);
          #pragma GCC unroll 16
          for (int t = 0; t < 4; ++t) acc[r][t] = _mm512_fmadd_ps(p, vv[t], acc[r][t]);
        }
      }
      #pragma GCC unroll 16
      for (int r = 0; r < 4; ++r)
        #pragma GCC unroll 16
        for (int t = 0; t < 4; ++t) _mm512_mask_storeu_ps(O + (i + r) * d + c0 + 16 * t, mk[t], acc[r][t]);
    }
  }
}

// One task = a block of BQ queries x a group of G consecutive heads. Per key
// chunk the task walks its heads, so the chunk's key/value rows (G*d floats
// each, contiguous) are read from memory once and then hit the cache.
template <int NV>
void attention_tiles512(const AttnProblem& p, int64_t G) {
  constexpr int BQ = 16 * NV;
  const int64_t Lq = p.Lq, H = p.H, d = p.d, ld = H * d;
  const int64_t nqb = (Lq + BQ - 1) / BQ, ngroups = H / G;
  const int64_t tasks = nqb * ngroups;
  int64_t keys = 0;
  for (int64_t c = 0; c < p.nchunks; ++c) keys += p.chunks[c].len;
  const int64_t work = Lq * H * d * keys;
  const float* qp = p.q;
  float* op = p.out;
  const float scale = p.scale;
#pragma omp parallel num_threads(p.threads) if (work >= (int64_t{1} << 20))
  {
    auto alloc = [](int64_t n) { return static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(n) * 4)); };
    float* Qt = alloc(G * d * BQ);  // [G][d][BQ], pre-scaled
    float* O = alloc(G * BQ * d);   // [G][BQ][d]
    float* S = alloc(BK * BQ);      // [BK][BQ]
    float* Vp = alloc(BK * d);      // one head's value rows of a chunk, packed
    float* M = alloc(G * BQ);       // running max per head and query
    float* L = alloc(G * BQ);       // running sum
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t hg = task / nqb, qb = task % nqb;
      const int64_t h0 = hg * G, q0 = qb * BQ;
      const int nq = static_cast<int>(Lq - q0 < BQ ? Lq - q0 : BQ);
      const int nr = (nq + 3) / 4 * 4;
      for (int64_t g = 0; g < G; ++g) {
        float* qt = Qt + g * d * BQ;
        for (int i = 0; i < BQ; ++i) {
          const float* src = qp + (q0 + i) * ld + (h0 + g) * d;
          for (int64_t c = 0; c < d; ++c) qt[c * BQ + i] = i < nq ? src[c] * scale : 0.0f;
        }
      }
      for (int64_t i = 0; i < G * BQ * d; ++i) O[i] = 0.0f;
      for (int64_t i = 0; i < G * BQ; ++i) M[i] = -FLT_MAX, L[i] = 0.0f;
      for (int64_t ci = 0; ci < p.nchunks; ++ci) {
        const AttnChunk& ch = p.chunks[ci];
        const AttnChunk* next = ci + 1 < p.nchunks ? &p.chunks[ci + 1] : nullptr;
        for (int64_t g = 0; g < G; ++g) {
          const int64_t h = h0 + g;
          float* Og = O + g * BQ * d;
          // Bring this head's keys and values of the next chunk towards L2
          // while this one computes (rows H*d apart defeat the prefetchers).
          if (next)
            for (int j = 0; j < next->len; ++j)
              for (int64_t c = 0; c < d; c += 16) {
                _mm_prefetch(reinterpret_cast<const char*>(next->k + j * ld + h * d + c), _MM_HINT_T1);
                _mm_prefetch(reinterpret_cast<const char*>(next->v + j * ld + h * d + c), _MM_HINT_T1);
              }
          scores_avx512<NV>(Qt + g * d * BQ, ch.k + h * d, ld, ch.len, d, ch.bias, S);
          __m512 m[NV], alpha[NV], rs[NV];
#pragma GCC unroll 16
          for (int v = 0; v < NV; ++v) m[v] = _mm512_load_ps(M + g * BQ + 16 * v), rs[v] = _mm512_setzero_ps();
          __m512 bm[NV];
#pragma GCC unroll 16
          for (int v = 0; v < NV; ++v) bm[v] = m[v];
          for (int j = 0; j < ch.len; ++j)
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) bm[v] = _mm512_max_ps(bm[v], _mm512_load_ps(S + j * BQ + 16 * v));
#pragma GCC unroll 16
          for (int v = 0; v < NV; ++v) alpha[v] = exp512(_mm512_sub_ps(m[v], bm[v]));
          for (int j = 0; j < ch.len; ++j)
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) {
              const __m512 p = exp512(_mm512_sub_ps(_mm512_load_ps(S + j * BQ + 16 * v), bm[v]));
              _mm512_store_ps(S + j * BQ + 16 * v, p);
              rs[v] = _mm512_add_ps(rs[v], p);
            }
          alignas(64) float al[BQ];
          bool rescale = false;
#pragma GCC unroll 16
          for (int v = 0; v < NV; ++v) {
            _mm512_store_ps(M + g * BQ + 16 * v, bm[v]);
            const __m512 l = _mm512_load_ps(L + g * BQ + 16 * v);
            _mm512_store_ps(L + g * BQ + 16 * v, _mm512_fmadd_ps(l, alpha[v], rs[v]));
            rescale |= _mm512_cmp_ps_mask(alpha[v], _mm512_set1_ps(1.0f), _CMP_NEQ_UQ) != 0;
            _mm512_store_ps(al + 16 * v, alpha[v]);
          }
          if (rescale)
            for (int i = 0; i < nr; ++i) {
              const float a = al[i];
              if (a != 1.0f)
                for (int64_t c = 0; c < d; ++c) Og[i * d + c] *= a;
            }
          // Value rows of one head are H*d apart, which for large H maps them
          // onto few cache sets: pack them before the nr/4 passes over them.
          for (int j = 0; j < ch.len; ++j)
            for (int64_t c = 0; c < d; ++c) Vp[j * d + c] = ch.v[j * ld + h * d + c];
          accumulate_avx512<BQ>(S, Vp, d, ch.len, d, nr, Og);
        }
      }
      for (int64_t g = 0; g < G; ++g)
        for (int i = 0; i < nq; ++i) {
          const float inv = 1.0f / L[g * BQ + i];
          const float* o = O + (g * BQ + i) * d;
          float* dst = op + (q0 + i) * ld + (h0 + g) * d;
          for (int64_t c = 0; c < d; ++c) dst[c] = o[c] * inv;
        }
    }
    std::free(Qt), std::free(O), std::free(S), std::free(Vp), std::free(M), std::free(L);
  }
}

}  // namespace

// Picks the query block (16 * NV rows) and head group G: the least estimated
// time on `threads` threads (tasks of BQ * G query-heads each, dynamic), the
// 64-row kernel counted as faster per row; with the software prefetch of the
// next chunk, groups of one head are usually best.
void attention_avx512(const AttnProblem& p) {
  const int64_t Lq = p.Lq, H = p.H, threads = p.threads;
  int best_nv = 4;
  int64_t best_g = 1;
  double best = 1e300;
  const int candidates[] = {4, 2, 1};
  for (int nv : candidates) {
    const int64_t bq = 16 * nv;
    const double eff = nv == 4 ? 1.0 : nv == 2 ? 0.8 : 0.57;  // measured speed per query row
    const int64_t nqb = (Lq + bq - 1) / bq;
    for (int64_t g = H; g >= 1; --g) {
      if (H % g != 0 || g * bq > 1024) continue;  // bound the per-thread buffers
      const int64_t tasks = nqb * (H / g);
      // Groups share the key rows' cache lines but crowd L2 (measured ~4% per extra head).
      const double t = static_cast<double>((tasks + threads - 1) / threads) * static_cast<double>(bq * g) / eff *
                       (1.0 + 0.04 * static_cast<double>(g - 1));
      if (t < best * (1.0 - 1e-9)) best = t, best_nv = nv, best_g = g;
    }
  }
  if (best_nv == 4)
    attention_tiles512<4>(p, best_g);
  else if (best_nv == 2)
    attention_tiles512<2>(p, best_g);
  else
    attention_tiles512<1>(p, best_g);
}

}  // namespace wl::cpu
