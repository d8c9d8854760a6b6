// Attention on the CPU: splits the KV segments into chunks of at most 64 keys
// (a chunk never crosses a segment) and runs the kernel built for the widest
// instruction set this processor and oneDNN's cap allow (cpu_isa.h). The
// portable build of the kernel (attention_tiles.inc, the project's base flags)
// lives here; attention_avx2.cpp and attention_avx512.cpp hold the others.
#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include <omp.h>

#include "runtime/cpu/attention_kernels.h"
#include "runtime/cpu/cpu_isa.h"
#include "runtime/cpu/ops_cpu.h"

namespace wl::cpu {
namespace {
#include "runtime/cpu/attention_tiles.inc"
}  // namespace

void attention_portable(const AttnProblem& p) { attention_tiles(p); }

void attention(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out) {
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2);
  if (Lq == 0 || H == 0 || d == 0) return;
  const int64_t ld = H * d;
  std::vector<AttnChunk> chunks;
  for (const KVSegment& s : kv)
    for (int64_t j0 = 0; j0 < s.len; j0 += kAttnChunkKeys)
      chunks.push_back({s.k + j0 * ld, s.v + j0 * ld, s.bias ? s.bias + j0 : nullptr,
                        static_cast<int>(std::min<int64_t>(kAttnChunkKeys, s.len - j0))});
  const AttnProblem p{q.f32(), Lq, H, d, chunks.data(), static_cast<int64_t>(chunks.size()),
                      scale, omp_get_max_threads(), out.f32()};
  switch (kernel_isa()) {
#if WL_KERNELS_AVX512
    case KernelIsa::Avx512: return attention_avx512(p);
#endif
#if WL_KERNELS_AVX2
    case KernelIsa::Avx2: return attention_avx2(p);
#endif
    default: return attention_portable(p);
  }
}

}  // namespace wl::cpu
