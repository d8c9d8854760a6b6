#include "runtime/model/image_codec.h"

#include "runtime/core/error.h"

namespace wl {
namespace {

// A 3x3 convolution `name` with bias, its weight checked to be [O, I, 3, 3].
ops::ConvWeight load_conv(const WeightMap& w, const std::string& name, int stride, Backend on = Backend::CPU) {
  const Tensor weight = w.get(name + ".weight");
  if (weight.rank() != 4 || weight.dim(2) != 3 || weight.dim(3) != 3)
    throw Error(w.path() + ": tensor '" + name + ".weight' has shape " + shape_str(weight.shape()) +
                ", expected [out, in, 3, 3]");
  return ops::prepare_conv2d(weight, w.get(name + ".bias", {weight.dim(0)}), stride, 1, on);
}

int count_blocks(const WeightMap& w, const char* first_conv) {
  int n = 0;
  while (w.has("blocks." + std::to_string(n) + "." + first_conv + ".weight")) ++n;
  return n;
}

void check_chain(const WeightMap& w, const ops::ConvWeight& a, const ops::ConvWeight& b, const std::string& bname) {
  if (b.in_channels() != a.out_channels())
    throw Error(w.path() + ": tensor '" + bname + ".weight' takes " + std::to_string(b.in_channels()) +
                " channels but the layer before gives " + std::to_string(a.out_channels()));
}

Tensor conv(const Tensor& x, const ops::ConvWeight& w) {
  const int64_t ho = (x.dim(2) + 2 * w.padding - 3) / w.stride + 1;
  const int64_t wo = (x.dim(3) + 2 * w.padding - 3) / w.stride + 1;
  Tensor y = ops::empty({x.dim(0), w.out_channels(), ho, wo}, x.backend());  // [F, O, Ho, Wo]
  ops::conv2d(x, w, y);
  return y;
}

Tensor conv_silu(const Tensor& x, const ops::ConvWeight& w) {
  Tensor y = conv(x, w);
  ops::silu(y);
  return y;
}

}  // namespace

ImageDecoder::ImageDecoder(const WeightMap& w, Backend on) : backend_(on) {
  conv_in_ = load_conv(w, "conv_in", 1, on);
  const int n = count_blocks(w, "conv1");
  ops::ConvWeight prev = conv_in_;
  for (int i = 0; i < n; ++i) {
    const std::string pre = "blocks." + std::to_string(i) + ".";
    Block b{load_conv(w, pre + "conv1", 1, on), load_conv(w, pre + "conv2", 1, on)};
    check_chain(w, prev, b.conv1, pre + "conv1");
    check_chain(w, b.conv1, b.conv2, pre + "conv2");
    prev = b.conv2;
    blocks_.push_back(b);
  }
  conv_out_ = load_conv(w, "conv_out", 1, on);
  check_chain(w, prev, conv_out_, "conv_out");
  if (conv_out_.out_channels() != 3)
    throw Error(w.path() + ": tensor 'conv_out.weight' gives " + std::to_string(conv_out_.out_channels()) +
                " channels, expected 3 (RGB)");
}

Tensor ImageDecoder::decode(const Tensor& z) const {
  if (z.rank() != 4 || z.dim(1) != latent_channels())
    throw Error("decoder: latents have shape " + shape_str(z.shape()) + ", expected [F, " +
                std::to_string(latent_channels()) + ", h, w]");
  // Checkpoint dtypes are widened on the CPU; the ops check that device latents are F32.
  const Tensor z32 = ops::to_backend(z.backend() == Backend::CPU ? z.to(DType::F32) : z, backend_);
  Tensor x = conv_silu(z32, conv_in_);                                   // [F, ch, h, w]
  for (const Block& b : blocks_) {
    Tensor up = ops::empty({x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)}, backend_);  // [F, ch, 2h, 2w]
    ops::upsample_nearest_2x(x, up);
    x = conv_silu(conv_silu(up, b.conv1), b.conv2);                      // [F, ch, 2h, 2w]
  }
  return conv(x, conv_out_);                                             // [F, 3, H, W]
}

ImageEncoder::ImageEncoder(const WeightMap& w) {
  conv_in_ = load_conv(w, "conv_in", 1);
  if (conv_in_.in_channels() != 3)
    throw Error(w.path() + ": tensor 'conv_in.weight' takes " + std::to_string(conv_in_.in_channels()) +
                " channels, expected 3 (RGB)");
  const int n = count_blocks(w, "conv1");
  ops::ConvWeight prev = conv_in_;
  for (int i = 0; i < n; ++i) {
    const std::string pre = "blocks." + std::to_string(i) + ".";
    Block b{load_conv(w, pre + "conv1", 1), load_conv(w, pre + "down", 2)};
    check_chain(w, prev, b.conv1, pre + "conv1");
    check_chain(w, b.conv1, b.down, pre + "down");
    prev = b.down;
    blocks_.push_back(b);
  }
  conv_out_ = load_conv(w, "conv_out", 1);
  check_chain(w, prev, conv_out_, "conv_out");
}

Tensor ImageEncoder::encode(const Tensor& rgb) const {
  if (rgb.rank() != 4 || rgb.dim(1) != 3 || rgb.dim(2) % downsampling() || rgb.dim(3) % downsampling())
    throw Error("encoder: images have shape " + shape_str(rgb.shape()) + ", expected [F, 3, H, W] with H and W "
                "multiples of " + std::to_string(downsampling()));
  Tensor x = conv_silu(rgb.to(DType::F32), conv_in_);                    // [F, ch, H, W]
  for (const Block& b : blocks_) x = conv_silu(conv_silu(x, b.conv1), b.down);  // [F, ch, H/2, W/2]
  return conv(x, conv_out_);                                             // [F, C, h, w]
}

Tensor ImageEncoder::encode_rgb8(const uint8_t* rgb, int64_t frames, int64_t height, int64_t width) const {
  Tensor img = Tensor::empty({frames, 3, height, width});                // [F, 3, H, W]
  const int64_t plane = height * width;
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t i = 0; i < plane; ++i)
      for (int64_t c = 0; c < 3; ++c)
        img.f32()[(f * 3 + c) * plane + i] = rgb[(f * plane + i) * 3 + c] / 127.5f - 1.0f;
  return encode(img);
}

}  // namespace wl
