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
void layer_norm(const Tensor&, const Tensor&, const Tensor&, float, Tensor&) { pending("layer_norm"); }
void layer_norm_modulate(const Tensor&, const Tensor&, int, int, int64_t, float, Tensor&) {
  pending("layer_norm_modulate");
}
void rms_norm(const Tensor&, const Tensor&, float, Tensor&) { pending("rms_norm"); }
void rms_norm_rope_3d(const Tensor&, const Tensor&, float, int64_t, int64_t, int64_t, int64_t, Tensor&, Tensor&) {
  pending("rms_norm_rope_3d");
}
void gated_add(Tensor&, const Tensor&, const Tensor&, int, int64_t) { pending("gated_add"); }
void add(Tensor&, const Tensor&) { pending("add"); }
void add_modulation(const Tensor&, const Tensor&, Tensor&) { pending("add_modulation"); }
void gelu_tanh(Tensor&) { pending("gelu_tanh"); }
void silu(Tensor&) { pending("silu"); }
void rope_3d(Tensor&, int64_t, int64_t, int64_t, int64_t) { pending("rope_3d"); }
ConvWeight prepare_conv2d(const Tensor&, const Tensor&, int, int) { pending("prepare_conv2d"); }
void conv2d(const Tensor&, const ConvWeight&, Tensor&) { pending("conv2d"); }
void upsample_nearest_2x(const Tensor&, Tensor&) { pending("upsample_nearest_2x"); }
void patchify(const Tensor&, int, int, Tensor&) { pending("patchify"); }
void unpatchify(const Tensor&, int64_t, int64_t, int64_t, int, int, int64_t, Tensor&) { pending("unpatchify"); }

}  // namespace wl::cuda
