// The attention kernel built for AVX2 + FMA (this file's own -m flags, set in
// runtime/CMakeLists.txt). See attention_kernels.h for why it sees only
// pointers and integers.
#include <cfloat>
#include <cstdint>
#include <cstdlib>

#include "runtime/cpu/attention_kernels.h"
#include "runtime/cpu/simd_exp.h"

namespace wl::cpu {
namespace {
#include "runtime/cpu/attention_tiles.inc"
}  // namespace

void attention_avx2(const AttnProblem& p) { attention_tiles(p); }

}  // namespace wl::cpu
