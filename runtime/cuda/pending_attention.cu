// PLACEHOLDER while the CUDA attention is written (issue 6): throws.
#include "runtime/cuda/ops_cuda.h"
#include "runtime/error.h"

namespace wl::cuda {

void attention(const Tensor&, const std::vector<KVSegment>&, float, Tensor&, MatmulPrecision) {
  throw Error("cuda::attention: not written yet");
}

}  // namespace wl::cuda
