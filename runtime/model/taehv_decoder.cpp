// specs/decoders.md §2.2 (layers, MemBlock, TGrow) and §2.3 (frames, trim, the demo's windows).
#include "runtime/model/taehv_decoder.h"

#include <cmath>
#include <cstring>

#include "runtime/core/error.h"
#include "runtime/model/wan_vae_blocks.h"

namespace wl {

using wan_vae::concat_frames;
using wan_vae::conv;
using wan_vae::frame_view;
using wan_vae::frames_of;

namespace {

const Shape& shape_of(const WeightMap& w, const std::string& name, size_t rank) {
  if (!w.has(name)) throw Error(w.path() + ": missing tensor '" + name + "' (not a TAEHV decoder, e.g. taew2_1.pth)");
  const Shape& s = w.info(name).shape;
  if (s.size() != rank) throw Error(w.path() + ": tensor '" + name + "' has shape " + shape_str(s) + ", expected rank " +
                                    std::to_string(rank));
  return s;
}

ops::ConvWeight conv3(const WeightMap& w, int index, int64_t out, int64_t in, bool bias) {
  const std::string p = "decoder." + std::to_string(index);
  return ops::prepare_conv2d(wan_vae::f32(w, p + ".weight", {out, in, 3, 3}),
                             bias ? wan_vae::f32(w, p + ".bias", {out}) : Tensor(), 1, 1);
}

// [a[t]; b[t]] along channels, per frame.
Tensor concat_channels(const Tensor& a, const Tensor& b) {
  const int64_t T = a.dim(0), per_a = a.numel() / T, per_b = b.numel() / T;
  Tensor out = Tensor::empty({T, a.dim(1) + b.dim(1), a.dim(2), a.dim(3)});  // [T, Ca + Cb, H, W]
  for (int64_t t = 0; t < T; ++t) {
    std::memcpy(out.f32() + t * (per_a + per_b), a.f32() + t * per_a, static_cast<size_t>(per_a) * sizeof(float));
    std::memcpy(out.f32() + t * (per_a + per_b) + per_a, b.f32() + t * per_b, static_cast<size_t>(per_b) * sizeof(float));
  }
  return out;
}

void relu(Tensor& x) {
  float* p = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = p[i] > 0.0f ? p[i] : 0.0f;
}

}  // namespace

TaehvDecoder::TaehvDecoder(const WeightMap& w) : path_(w.path()) {
  const Shape& s1 = shape_of(w, "decoder.1.weight", 4);  // [n0, 16, 3, 3]
  latent_channels_ = s1[1];
  n_f_ = {s1[0], shape_of(w, "decoder.8.weight", 4)[0], shape_of(w, "decoder.14.weight", 4)[0],
          shape_of(w, "decoder.20.weight", 4)[0]};
  for (int64_t n : n_f_)
    if (n < 1) throw Error(path_ + ": a TAEHV width is " + std::to_string(n));
  auto add = [&](Layer::Kind kind, int index) -> Layer& {
    Layer l;
    l.kind = kind;
    l.index = index;
    layers_.push_back(std::move(l));
    return layers_.back();
  };
  auto mem = [&](int index, int64_t n) {
    const std::string p = "decoder." + std::to_string(index) + ".conv.";
    Layer& l = add(Layer::Mem, index);
    l.mem.conv0 = ops::prepare_conv2d(wan_vae::f32(w, p + "0.weight", {n, 2 * n, 3, 3}), wan_vae::f32(w, p + "0.bias", {n}), 1, 1);
    l.mem.conv2 = ops::prepare_conv2d(wan_vae::f32(w, p + "2.weight", {n, n, 3, 3}), wan_vae::f32(w, p + "2.bias", {n}), 1, 1);
    l.mem.conv4 = ops::prepare_conv2d(wan_vae::f32(w, p + "4.weight", {n, n, 3, 3}), wan_vae::f32(w, p + "4.bias", {n}), 1, 1);
    l.mem.slot = mem_blocks_++;
  };
  // TGrow(n, s) at `index`: a 1x1 [s n, n] without bias. The decoder's first
  // TGrow has stride 1; the others' strides are read from the weights. A file
  // whose TGrow has more rows than the model keeps the last s n of them
  // (TAEHV's patch_tgrow_layers).
  auto tgrow = [&](int index, int64_t n, bool fixed_stride_1) {
    const std::string name = "decoder." + std::to_string(index) + ".conv.weight";
    const Shape& s = shape_of(w, name, 4);
    if (s[1] != n || s[2] != 1 || s[3] != 1 || s[0] % n || s[0] < n || s[0] > 2 * n)
      throw Error(path_ + ": tensor '" + name + "' has shape " + shape_str(s) + ", expected [" + std::to_string(n) +
                  " or " + std::to_string(2 * n) + ", " + std::to_string(n) + ", 1, 1]");
    const int64_t stride = fixed_stride_1 ? 1 : s[0] / n;
    const Tensor full = wan_vae::f32(w, name, s);  // [rows, n, 1, 1]
    Tensor kept = Tensor::empty({stride * n, n, 1, 1});  // [s n, n, 1, 1], the last rows
    std::memcpy(kept.f32(), full.f32() + (s[0] - stride * n) * n, kept.nbytes());
    Layer& l = add(Layer::TGrow, index);
    l.conv = ops::prepare_conv2d(kept, Tensor(), 1, 0);
    l.stride = stride;
    frames_per_latent_ *= stride;
  };
  const int64_t n0 = n_f_[0], n1 = n_f_[1], n2 = n_f_[2], n3 = n_f_[3];
  add(Layer::Clamp, 0);
  add(Layer::Conv, 1).conv = conv3(w, 1, n0, latent_channels_, true);
  add(Layer::Relu, 2);
  for (int i : {3, 4, 5}) mem(i, n0);
  // Upsample and TGrow swapped (TGrow first, on a quarter of the pixels): nearest
  // upsampling only copies, so the result is the same.
  tgrow(7, n0, true);
  add(Layer::Upsample, 6);
  add(Layer::Conv, 8).conv = conv3(w, 8, n1, n0, false);
  for (int i : {9, 10, 11}) mem(i, n1);
  tgrow(13, n1, false);
  add(Layer::Upsample, 12);
  add(Layer::Conv, 14).conv = conv3(w, 14, n2, n1, false);
  for (int i : {15, 16, 17}) mem(i, n2);
  tgrow(19, n2, false);
  add(Layer::Upsample, 18);
  add(Layer::Conv, 20).conv = conv3(w, 20, n3, n2, false);
  add(Layer::Relu, 21);
  add(Layer::Conv, 22).conv = conv3(w, 22, 3, n3, true);
}

// out = relu(conv4(relu(conv2(relu(conv0([x_t, x_{t-1}]))))) + x_t), x_{-1}
// from the stream's memory: every frame's past is known from the input, so
// the whole call runs as one batch.
Tensor TaehvDecoder::apply(const MemBlock& m, const Tensor& x, Stream& s) const {
  const int64_t T = x.dim(0);
  Tensor& memory = s.memory[static_cast<size_t>(m.slot)];
  if (!memory.defined()) memory = Tensor::zeros({1, x.dim(1), x.dim(2), x.dim(3)});  // [1, n, H, W]
  if (memory.dim(1) != x.dim(1) || memory.dim(2) != x.dim(2) || memory.dim(3) != x.dim(3))
    throw Error(path_ + ": a stream's frames changed size from " + shape_str(memory.shape()) + " to " +
                shape_str(x.shape()));
  const Tensor past = T > 1 ? concat_frames(memory, frame_view(x, 0, T - 1)) : memory;  // [T, n, H, W]
  Tensor y = conv(concat_channels(x, past), m.conv0);  // [T, n, H, W]
  relu(y);
  y = conv(y, m.conv2);
  relu(y);
  y = conv(y, m.conv4);
  ops::add(y, x);
  relu(y);
  memory = frames_of(x, T - 1, 1);
  return y;
}

Tensor TaehvDecoder::decode_call(const Tensor& latents, Stream& s, Taps* taps) const {
  if (latents.rank() != 4 || latents.dim(0) < 1 || latents.dim(1) != latent_channels_ || latents.dim(2) < 1 ||
      latents.dim(3) < 1)
    throw Error(path_ + ": TAEHV latents have shape " + shape_str(latents.shape()) + ", expected [T, " +
                std::to_string(latent_channels_) + ", h, w]");
  if (s.memory.empty()) s.memory.resize(static_cast<size_t>(mem_blocks_));
  Tensor x = latents.to(DType::F32);  // [T, 16, h, w] (a copy)
  for (const Layer& l : layers_) {
    switch (l.kind) {
      case Layer::Clamp:
        for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = 3.0f * std::tanh(x.f32()[i] / 3.0f);
        break;
      case Layer::Conv:
        x = conv(x, l.conv);
        break;
      case Layer::Relu:
        relu(x);
        break;
      case Layer::Mem:
        x = apply(l.mem, x, s);
        break;
      case Layer::TGrow: {  // frame t's channel block j becomes frame s t + j: [T, s n, H, W] is [s T, n, H, W]
        const Tensor g = conv(x, l.conv);  // [T, s n, H, W]
        x = g.reshape({x.dim(0) * l.stride, x.dim(1), x.dim(2), x.dim(3)});
        break;
      }
      case Layer::Upsample: {
        Tensor up = Tensor::empty({x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)});  // [T, C, 2H, 2W]
        ops::upsample_nearest_2x(x, up);
        x = up;
        break;
      }
    }
    // Upsample runs after the TGrow it was swapped with: decoder[6] is only
    // complete once both ran, so report the pair under the TGrow's index.
    if (taps && l.kind != Layer::TGrow) (*taps)[l.index == 6 || l.index == 12 || l.index == 18 ? l.index + 1 : l.index] = x.clone();
  }
  s.latents += latents.dim(0);
  return x;  // [T * frames_per_latent, 3, 8h, 8w]
}

Tensor TaehvDemoWindow::decode_block(const Tensor& latents) {
  const Tensor z = latents.to(DType::F32);
  TaehvDecoder::Stream fresh;
  Tensor raw;
  int64_t keep_from = 0;
  if (!previous_.defined()) {
    raw = decoder_.decode_call(z, fresh);  // [4B, 3, H, W]
    keep_from = decoder_.frames_to_trim();
  } else {
    if (previous_.dim(2) != z.dim(2) || previous_.dim(3) != z.dim(3) || previous_.dim(1) != z.dim(1))
      throw Error(decoder_.path() + ": a stream's latents changed size from " + shape_str(previous_.shape()) + " to " +
                  shape_str(z.shape()));
    raw = decoder_.decode_call(concat_frames(previous_, z), fresh);  // [4 (B' + B), 3, H, W]
    keep_from = decoder_.frames_per_latent() * previous_.dim(0);
  }
  previous_ = z.clone();
  Tensor out = frames_of(raw, keep_from, raw.dim(0) - keep_from);  // [kept, 3, H, W]
  for (int64_t i = 0; i < out.numel(); ++i) out.f32()[i] = out.f32()[i] * 2.0f - 1.0f;
  return out;
}

}  // namespace wl
