#include "runtime/model/latent_preview.h"

#include <string>

#include "runtime/core/error.h"

namespace wl {
namespace {

// Rows: latent channel 0..15; columns: R, G, B. The linear latent-to-RGB
// factors and bias that preview tools publish for Wan 2.1's VAE latents.
constexpr float kFactors[16][3] = {
    {-0.1299f, -0.1692f, 0.2932f}, {0.0671f, 0.0406f, 0.0442f},  {0.3568f, 0.2548f, 0.1747f},
    {0.0372f, 0.2344f, 0.1420f},   {0.0313f, 0.0189f, -0.0328f}, {0.0296f, -0.0956f, -0.0665f},
    {-0.3477f, -0.4059f, -0.2925f}, {0.0166f, 0.1902f, 0.1975f}, {-0.0412f, 0.0267f, -0.1364f},
    {-0.1293f, 0.0740f, 0.1636f},  {0.0680f, 0.3019f, 0.1128f},  {0.0032f, 0.0581f, 0.0639f},
    {-0.1251f, 0.0927f, 0.1699f},  {0.0060f, -0.0633f, 0.0005f}, {0.3477f, 0.2275f, 0.2950f},
    {0.1984f, 0.0913f, 0.1861f}};
constexpr float kBias[3] = {-0.1835f, -0.0868f, -0.3360f};

}  // namespace

float LatentPreview::factor(int latent_channel, int rgb_channel) { return kFactors[latent_channel][rgb_channel]; }
float LatentPreview::bias(int rgb_channel) { return kBias[rgb_channel]; }

LatentPreview::LatentPreview(Backend on) : backend_(on) {
  Tensor weight = Tensor::empty({3, kChannels, 1, 1}, DType::F32);  // [3, 16, 1, 1]
  Tensor b = Tensor::empty({3}, DType::F32);                         // [3]
  float* w = weight.data<float>();
  for (int c = 0; c < 3; ++c) {
    for (int k = 0; k < kChannels; ++k) w[c * kChannels + k] = kFactors[k][c];
    b.data<float>()[c] = kBias[c];
  }
  project_ = ops::prepare_conv2d(weight, b, /*stride=*/1, /*padding=*/0, on);
}

Tensor LatentPreview::decode(const Tensor& z) const {
  if (z.rank() != 4 || z.dim(1) != kChannels)
    throw Error("latent preview: latents of shape " + shape_str(z.shape()) +
                ", expected [F, 16, h, w] (Wan 2.1 VAE latents)");
  const Tensor z32 = ops::to_backend(z.backend() == Backend::CPU ? z.to(DType::F32) : z, backend_);  // [F, 16, h, w]
  Tensor rgb = ops::empty({z.dim(0), 3, z.dim(2), z.dim(3)}, backend_);  // [F, 3, h, w]
  ops::conv2d(z32, project_, rgb);
  return rgb;
}

}  // namespace wl
