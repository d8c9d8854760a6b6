// PLACEHOLDER while the CUDA kernels are written (issue 6): every op below
// throws. Each function moves to its own file (see ops_cuda.h) and leaves here.
#include "runtime/cuda/ops_cuda.h"
#include "runtime/error.h"

namespace wl::cuda {

namespace {
[[noreturn]] void pending(const char* op) { throw Error(std::string("cuda::") + op + ": not written yet"); }
}  // namespace

LinearWeight prepare_linear(const Tensor&, const Tensor&, MatmulPrecision) { pending("prepare_linear"); }
void linear(const Tensor&, const LinearWeight&, Tensor&) { pending("linear"); }
ConvWeight prepare_conv2d(const Tensor&, const Tensor&, int, int) { pending("prepare_conv2d"); }
void conv2d(const Tensor&, const ConvWeight&, Tensor&) { pending("conv2d"); }

}  // namespace wl::cuda
