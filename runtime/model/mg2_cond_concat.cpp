// specs/encoders.md §4 (cond_concat), §3.3 (streaming), §3.5 (MG2's tiles).
#include "runtime/model/mg2_cond_concat.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "runtime/core/error.h"

namespace wl {

Tensor mg2_cond_concat(const WanVaeEncoder& vae, const Tensor& frame, int64_t F) {
  if (frame.rank() != 3 || frame.dim(0) != 3)
    throw Error("cond_concat: start frame has shape " + shape_str(frame.shape()) + ", expected [3, H, W]");
  const int64_t H = frame.dim(1), W = frame.dim(2);
  if (H % 8 || W % 8 || H < 8 || W < 8)
    throw Error("cond_concat: the start frame is " + std::to_string(W) + "x" + std::to_string(H) +
                "; width and height must be multiples of 8");
  if (H > kMg2TileHeight || W > kMg2TileWidth)
    throw Error("cond_concat: frames larger than one 640x352 tile need MG2's tiled encode, which is not implemented (frame " +
                std::to_string(W) + "x" + std::to_string(H) + ")");
  if (F < 1 || F > 100000) throw Error("cond_concat: latent frame count " + std::to_string(F) + " must be 1..100000");
  const int64_t h = H / 8, w = W / 8, P = h * w, Z = vae.z_dim();
  const int64_t encoded = std::min(F, kMg2ConstantGreyFrom + 1);
  Tensor out = Tensor::zeros({F, 4 + Z, h, w});  // [F, 20, h, w]: mask | latents
  const Tensor first = frame.dtype() == DType::F32 ? frame : frame.to(DType::F32);
  const Tensor grey = Tensor::zeros({4, 3, H, W});  // [4, 3, H, W]: 0.0 is mid-grey
  WanVaeEncoder::Stream stream;
  for (int64_t f = 0; f < encoded; ++f) {
    const Tensor latent = vae.latents_of(f == 0 ? vae.encode_call(first.reshape({1, 3, H, W}), stream)
                                                : vae.encode_call(grey, stream));  // [1, Z, h, w]
    float* dst = out.f32() + f * (4 + Z) * P;
    if (f == 0) std::fill(dst, dst + 4 * P, 1.0f);
    std::copy_n(latent.f32(), Z * P, dst + 4 * P);
  }
  for (int64_t f = encoded; f < F; ++f)
    std::memcpy(out.f32() + f * (4 + Z) * P, out.f32() + (encoded - 1) * (4 + Z) * P,
                static_cast<size_t>((4 + Z) * P) * sizeof(float));
  return out;
}

}  // namespace wl
