// 2D convolutions, and 3D ones over frame-major sequences, on the CPU through
// oneDNN (f32), and nearest upsampling.
//
// Tensors stay plain NCHW at the op boundary, but each convolution runs in the
// layouts oneDNN picks for it (format_tag::any: channel-blocked on AVX-512,
// ~4x faster than its plain-layout kernels for the decoder's 64-channel
// layers). The weights are reordered into that layout once, when the shape is
// first seen, and kept with the cached primitive; the activations are
// reordered in and out around each call (a few hundred kB, cheap next to the
// convolution). Primitives are cached by shape and weight, so a decoder that
// runs the same shapes every frame pays creation and weight packing once.
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include "runtime/cpu/ops_cpu.h"
#include "runtime/cpu/scratchpad.h"
#include "runtime/core/error.h"

namespace wl::cpu {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::engine& conv_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

struct ConvKey {
  int64_t n, c, h, w, o, kh, kw;
  int stride, padding;
  const void* weight;  // the weights packed into the primitive's layout (held below, so never reused)
  const void* bias;
  int threads;  // oneDNN fixes a primitive's team size when it creates it (cpu_threads.h changes it)
  auto tie() const { return std::tie(n, c, h, w, o, kh, kw, stride, padding, weight, bias, threads); }
  bool operator<(const ConvKey& other) const { return tie() < other.tie(); }
};

struct CachedConv {
  dnnl::convolution_forward primitive;
  dnnl::memory::desc src, dst, scratchpad;  // the primitive's own layouts
  dnnl::memory weights;                     // reordered once
  Tensor weight_ref, bias;                  // keep the key's pointers alive
  bool src_plain = true, dst_plain = true;
};

std::mutex g_conv_mutex;
std::map<ConvKey, CachedConv> g_convs;

// Scratch for activations in a primitive's layout, per thread and slot (input, output).
void* layout_buffer(int slot, size_t bytes) {
  static thread_local std::vector<uint8_t> buffers[2];
  std::vector<uint8_t>& b = buffers[slot];
  if (b.size() < bytes + 64) b.resize(bytes + 64);
  auto addr = reinterpret_cast<uintptr_t>(b.data());
  return reinterpret_cast<void*>((addr + 63) & ~uintptr_t{63});
}

// The user's layouts of a convolution, and the `any` ones oneDNN chooses from.
struct ConvLayouts {
  dnnl::memory::desc src, dst, weights;
};
struct AnyLayouts {
  dnnl::memory::desc src, weights, dst;
};

// A primitive for `any`, its layouts compared with the user's, and the
// weights (user layout `plain.weights`) reordered into its own once.
CachedConv pack_conv(const ConvLayouts& plain, const AnyLayouts& any, const dnnl::memory::dims& strides,
                     const dnnl::memory::dims& pad, const ops::ConvWeight& w, dnnl::engine& eng) {
  const int64_t o = w.weight.dim(0);
  auto desc = w.bias.defined()
                  ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                    dnnl::algorithm::convolution_direct, any.src, any.weights,
                                                    dnnl::memory::desc({o}, dt::f32, tag::x), any.dst, strides, pad, pad)
                  : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                    dnnl::algorithm::convolution_direct, any.src, any.weights, any.dst,
                                                    strides, pad, pad);
  const dnnl::convolution_forward::primitive_desc pd(desc, user_scratchpad_attr(), eng);
  CachedConv c{dnnl::convolution_forward(pd), pd.src_desc(), pd.dst_desc(), pd.scratchpad_desc(),
               dnnl::memory(pd.weights_desc(), eng), w.weight, w.bias};
  c.src_plain = pd.src_desc() == plain.src;
  c.dst_plain = pd.dst_desc() == plain.dst;
  dnnl::memory wei_user(plain.weights, eng, const_cast<void*>(w.weight.raw()));
  dnnl::stream s(eng);
  dnnl::reorder(wei_user, c.weights).execute(s, wei_user, c.weights);
  s.wait();
  return c;
}

// Runs `prim` from x to y in the user's layouts `src` and `dst`, reordering
// in and out of the primitive's own where they differ.
void run_conv(const CachedConv& prim, const dnnl::memory::desc& src, const dnnl::memory::desc& dst, const Tensor& x,
              Tensor& y, dnnl::engine& eng) {
  dnnl::stream s(eng);
  dnnl::memory src_m(src, eng, const_cast<void*>(x.raw()));
  dnnl::memory dst_m(dst, eng, y.raw());
  dnnl::memory conv_src = src_m, conv_dst = dst_m;
  if (!prim.src_plain) {
    conv_src = dnnl::memory(prim.src, eng, layout_buffer(0, prim.src.get_size()));
    dnnl::reorder(src_m, conv_src).execute(s, src_m, conv_src);
  }
  if (!prim.dst_plain) conv_dst = dnnl::memory(prim.dst, eng, layout_buffer(1, prim.dst.get_size()));
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, conv_src}, {DNNL_ARG_WEIGHTS, prim.weights},
                                              {DNNL_ARG_DST, conv_dst},
                                              {DNNL_ARG_SCRATCHPAD, scratchpad_memory(prim.scratchpad, eng)}};
  if (prim.bias.defined())
    args.emplace(DNNL_ARG_BIAS, dnnl::memory({{prim.bias.dim(0)}, dt::f32, tag::x}, eng,
                                             const_cast<void*>(prim.bias.raw())));
  prim.primitive.execute(s, args);
  if (!prim.dst_plain) dnnl::reorder(conv_dst, dst_m).execute(s, conv_dst, dst_m);
  s.wait();
}

CachedConv make_conv(const ConvKey& key, const ops::ConvWeight& w, dnnl::engine& eng) {
  const dnnl::memory::desc src_plain({key.n, key.c, key.h, key.w}, dt::f32, tag::nchw);
  const int64_t ho = (key.h + 2 * key.padding - key.kh) / key.stride + 1;
  const int64_t wo = (key.w + 2 * key.padding - key.kw) / key.stride + 1;
  const dnnl::memory::desc dst_plain({key.n, key.o, ho, wo}, dt::f32, tag::nchw);
  const dnnl::memory::desc wei_plain({key.o, key.c, key.kh, key.kw}, dt::f32, tag::oihw);
  const dnnl::memory::desc src_any({key.n, key.c, key.h, key.w}, dt::f32, tag::any);
  const dnnl::memory::desc dst_any({key.n, key.o, ho, wo}, dt::f32, tag::any);
  const dnnl::memory::desc wei_any({key.o, key.c, key.kh, key.kw}, dt::f32, tag::any);
  return pack_conv({src_plain, dst_plain, wei_plain}, {src_any, wei_any, dst_any},
                   {key.stride, key.stride}, {key.padding, key.padding}, w, eng);
}

}  // namespace

ops::ConvWeight prepare_conv2d(const Tensor& weight, const Tensor& bias, int stride, int padding) {
  ops::ConvWeight cw;
  cw.weight = weight.to(DType::F32);
  if (bias.defined()) cw.bias = bias.to(DType::F32);
  cw.stride = stride;
  cw.padding = padding;
  return cw;
}

void conv2d(const Tensor& x, const ops::ConvWeight& w, Tensor& y) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t o = w.weight.dim(0), kh = w.weight.dim(2), kw = w.weight.dim(3);
  const int64_t ho = y.dim(2), wo = y.dim(3);
  dnnl::engine& eng = conv_engine();
  const dnnl::memory::desc src({n, c, h, wd}, dt::f32, tag::nchw);
  const dnnl::memory::desc dst({n, o, ho, wo}, dt::f32, tag::nchw);

  CachedConv prim;
  {
    std::lock_guard<std::mutex> lock(g_conv_mutex);
    const ConvKey key{n, c, h, wd, o, kh, kw, w.stride, w.padding, w.weight.raw(),
                      w.bias.defined() ? w.bias.raw() : nullptr, omp_get_max_threads()};
    auto it = g_convs.find(key);
    if (it == g_convs.end()) it = g_convs.emplace(key, make_conv(key, w, eng)).first;
    prim = it->second;
  }
  run_conv(prim, src, dst, x, y, eng);
}

// ---- 3D, over frame-major sequences ------------------------------------------
//
// The Wan VAE's tensors are frame-major, [T, C, H, W]; oneDNN's 3D
// convolution wants [N, C, D, H, W]. A strided descriptor says the first is
// the second with N = 1 and D = T (strides T*C*H*W, H*W, C*H*W, W, 1), so the
// boundary reorder into the primitive's blocked layout reads the frames where
// they are, with no transpose.

namespace {

struct Conv3dKey {
  int64_t t, c, h, w, o, kt, kh, kw;
  int padding;
  const void* weight;
  const void* bias;
  int threads;
  auto tie() const { return std::tie(t, c, h, w, o, kt, kh, kw, padding, weight, bias, threads); }
  bool operator<(const Conv3dKey& other) const { return tie() < other.tie(); }
};

std::map<Conv3dKey, CachedConv> g_convs3d;  // under g_conv_mutex

dnnl::memory::desc frames_desc(int64_t t, int64_t c, int64_t h, int64_t w) {  // [T, C, H, W] as [1, C, T, H, W]
  return dnnl::memory::desc({1, c, t, h, w}, dt::f32, dnnl::memory::dims{t * c * h * w, h * w, c * h * w, w, 1});
}

CachedConv make_conv3d(const Conv3dKey& key, const ops::ConvWeight& w, dnnl::engine& eng) {
  const int64_t to = key.t - key.kt + 1;
  const int64_t ho = key.h + 2 * key.padding - key.kh + 1, wo = key.w + 2 * key.padding - key.kw + 1;
  const dnnl::memory::desc src_plain = frames_desc(key.t, key.c, key.h, key.w);
  const dnnl::memory::desc dst_plain = frames_desc(to, key.o, ho, wo);
  const dnnl::memory::desc wei_plain({key.o, key.c, key.kt, key.kh, key.kw}, dt::f32, tag::oidhw);
  const dnnl::memory::desc src_any({1, key.c, key.t, key.h, key.w}, dt::f32, tag::any);
  const dnnl::memory::desc dst_any({1, key.o, to, ho, wo}, dt::f32, tag::any);
  const dnnl::memory::desc wei_any({key.o, key.c, key.kt, key.kh, key.kw}, dt::f32, tag::any);
  return pack_conv({src_plain, dst_plain, wei_plain}, {src_any, wei_any, dst_any}, {1, 1, 1},
                   {0, key.padding, key.padding}, w, eng);
}

}  // namespace

ops::ConvWeight prepare_conv3d(const Tensor& weight, const Tensor& bias, int padding) {
  ops::ConvWeight cw;
  cw.weight = weight.to(DType::F32);
  if (bias.defined()) cw.bias = bias.to(DType::F32);
  cw.stride = 1;
  cw.padding = padding;
  return cw;
}

void conv3d_frames(const Tensor& x, const ops::ConvWeight& w, Tensor& y) {
  const int64_t t = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t o = w.weight.dim(0), kt = w.weight.dim(2), kh = w.weight.dim(3), kw = w.weight.dim(4);
  dnnl::engine& eng = conv_engine();
  CachedConv prim;
  {
    std::lock_guard<std::mutex> lock(g_conv_mutex);
    const Conv3dKey key{t, c, h, wd, o, kt, kh, kw, w.padding, w.weight.raw(),
                        w.bias.defined() ? w.bias.raw() : nullptr, omp_get_max_threads()};
    auto it = g_convs3d.find(key);
    if (it == g_convs3d.end()) it = g_convs3d.emplace(key, make_conv3d(key, w, eng)).first;
    prim = it->second;
  }
  run_conv(prim, frames_desc(t, c, h, wd), frames_desc(y.dim(0), o, y.dim(2), y.dim(3)), x, y, eng);
}

void upsample_nearest_2x(const Tensor& x, Tensor& y) {
  const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
  const float* src = x.f32();
  float* dst = y.f32();
#pragma omp parallel for schedule(static) if (planes * h * w > 16384)
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < h; ++i) {
      const float* row = src + (p * h + i) * w;
      float* out0 = dst + (p * 2 * h + 2 * i) * 2 * w;
      float* out1 = out0 + 2 * w;
      for (int64_t j = 0; j < w; ++j) out0[2 * j] = out0[2 * j + 1] = row[j];
      for (int64_t j = 0; j < 2 * w; ++j) out1[j] = out0[j];
    }
  }
}

}  // namespace wl::cpu
