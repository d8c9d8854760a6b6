// The attention kernel, built once per instruction set (runtime/cpu/attention.cpp
// picks one at run time through cpu_isa.h).
//
// The interface is plain C types on purpose: attention_avx2.cpp and
// attention_avx512.cpp are compiled with their own -m flags, and any inline
// function they shared with the rest of the program (a Tensor accessor, a
// std::vector member) would be one linker symbol, possibly the AVX-512 copy.
// So they see pointers and integers only, and keep their helpers static.
#pragma once
#include <cstdint>

namespace wl::cpu {

// A run of at most 64 keys inside one KV segment; rows are H*d floats apart.
struct AttnChunk {
  const float* k;     // first key row (head offset not yet applied)
  const float* v;     // first value row
  const float* bias;  // [len] additive logit bias, or nullptr
  int len;
};
constexpr int kAttnChunkKeys = 64;

// out[Lq, H, d] = softmax(q k^T * scale + bias) v over every chunk in order.
struct AttnProblem {
  const float* q;  // [Lq, H, d]
  int64_t Lq, H, d;
  const AttnChunk* chunks;
  int64_t nchunks;
  float scale;
  int threads;     // the OpenMP team size the kernel may use
  float* out;      // [Lq, H, d]
};

void attention_portable(const AttnProblem& p);  // attention.cpp, the project's base flags
#if WL_KERNELS_AVX2
void attention_avx2(const AttnProblem& p);      // attention_avx2.cpp, -mavx2 -mfma
constexpr bool kAttentionAvx2Built = true;
#else
constexpr bool kAttentionAvx2Built = false;
#endif
#if WL_KERNELS_AVX512
void attention_avx512(const AttnProblem& p);    // attention_avx512.cpp, -mavx512f/dq/bw/vl
constexpr bool kAttentionAvx512Built = true;
#else
constexpr bool kAttentionAvx512Built = false;
#endif

}  // namespace wl::cpu
