// cuda::attention: F32 runs the own flash kernel (f32 throughout, exact to the
// CPU's rounding); BF16 runs cuDNN's fused SDPA in bf16 where cuDNN takes the
// call and the flash kernel otherwise. WORLDLOOP_ATTENTION=flash forces the
// flash kernel (debugging, benchmarks); unset or "auto" is the default.
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/cuda/attention_paths.h"
#include "runtime/core/error.h"

namespace wl::cuda {

namespace {

bool flash_forced() {
  const char* v = std::getenv("WORLDLOOP_ATTENTION");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "auto") == 0) return false;
  if (std::strcmp(v, "flash") == 0) return true;
  throw Error(std::string("WORLDLOOP_ATTENTION=") + v + ": expected \"flash\" or \"auto\"");
}

}  // namespace

void attention(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out,
               MatmulPrecision precision) {
  if (q.dim(0) == 0 || q.dim(1) == 0 || q.dim(2) == 0) return;
  if (precision == MatmulPrecision::BF16 && !flash_forced() && attention_cudnn(q, kv, scale, out)) return;
  attention_flash(q, kv, scale, out);
}

}  // namespace wl::cuda
