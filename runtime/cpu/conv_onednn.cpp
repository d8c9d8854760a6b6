// 2D convolutions on the CPU through oneDNN (f32), and nearest upsampling.
//
// Weights stay in oneDNN's plain oihw layout; primitives are cached by shape,
// so a decoder that runs the same shapes every frame pays creation once.
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include "runtime/cpu/ops_cpu.h"
#include "runtime/cpu/scratchpad.h"
#include "runtime/error.h"

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
  bool bias;
  auto tie() const { return std::tie(n, c, h, w, o, kh, kw, stride, padding, bias); }
  bool operator<(const ConvKey& other) const { return tie() < other.tie(); }
};

struct CachedConv {
  dnnl::convolution_forward primitive;
  dnnl::memory::desc scratchpad;
};

std::mutex g_conv_mutex;
std::map<ConvKey, CachedConv> g_convs;

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
  const bool has_bias = w.bias.defined();
  dnnl::engine& eng = conv_engine();
  const dnnl::memory::desc src({n, c, h, wd}, dt::f32, tag::nchw);
  const dnnl::memory::desc wei({o, c, kh, kw}, dt::f32, tag::oihw);
  const dnnl::memory::desc dst({n, o, ho, wo}, dt::f32, tag::nchw);

  CachedConv prim;
  {
    std::lock_guard<std::mutex> lock(g_conv_mutex);
    ConvKey key{n, c, h, wd, o, kh, kw, w.stride, w.padding, has_bias};
    auto it = g_convs.find(key);
    if (it == g_convs.end()) {
      const dnnl::memory::dims strides{w.stride, w.stride}, pad{w.padding, w.padding};
      auto desc = has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                             dnnl::algorithm::convolution_direct, src, wei,
                                                             dnnl::memory::desc({o}, dt::f32, tag::x), dst, strides,
                                                             pad, pad)
                           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                             dnnl::algorithm::convolution_direct, src, wei, dst,
                                                             strides, pad, pad);
      const dnnl::convolution_forward::primitive_desc pd(desc, user_scratchpad_attr(), eng);
      it = g_convs.emplace(key, CachedConv{dnnl::convolution_forward(pd), pd.scratchpad_desc()}).first;
    }
    prim = it->second;
  }
  dnnl::memory src_m(src, eng, const_cast<void*>(x.raw()));
  dnnl::memory wei_m(wei, eng, const_cast<void*>(w.weight.raw()));
  dnnl::memory dst_m(dst, eng, y.raw());
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src_m}, {DNNL_ARG_WEIGHTS, wei_m}, {DNNL_ARG_DST, dst_m},
                                              {DNNL_ARG_SCRATCHPAD, scratchpad_memory(prim.scratchpad, eng)}};
  if (has_bias)
    args.emplace(DNNL_ARG_BIAS, dnnl::memory({{o}, dt::f32, tag::x}, eng, const_cast<void*>(w.bias.raw())));
  dnnl::stream s(eng);
  prim.primitive.execute(s, args);
  s.wait();
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
