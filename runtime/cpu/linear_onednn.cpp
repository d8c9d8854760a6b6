// Matrix products on the CPU through oneDNN.
//
// Weights are converted once (prepare_linear) to the precision in use and, where
// oneDNN offers a blocked layout for this processor (AMX / AVX-512 tiles), reordered
// into it so that no call pays for the reorder. BF16 mode converts the activations
// to bf16 per call and accumulates in f32; F32 mode is exact to f32 rounding.
//
// BF16 on a processor without bf16 dot products (AVX2, plain AVX-512; oneDNN 2.6
// has no bf16 matmul there) is emulated with the same numbers: the weights are
// rounded to bf16 once and kept as f32, the activations are rounded to bf16 per
// call, and oneDNN's f32 kernels multiply them. A product of two bf16 values is
// exact in f32 (8 + 8 significant bits), so this is a bf16 product accumulated
// in f32, as AMX computes it; only the order of the sums differs.
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include "runtime/cpu/cpu_isa.h"
#include "runtime/cpu/ops_cpu.h"
#include "runtime/cpu/scratchpad.h"
#include "runtime/core/error.h"

namespace wl::cpu {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dt onednn_type(ops::MatmulPrecision p) { return p == ops::MatmulPrecision::BF16 ? dt::bf16 : dt::f32; }

// The M used to ask oneDNN for its preferred weight layout; the chosen layout
// depends on K, N and the ISA, not on M, for the shapes the models use.
constexpr int64_t kNominalRows = 256;

struct PackedWeight {
  dnnl::memory::desc desc;
  dnnl::memory memory;  // owns the packed bytes
  bool emulated_bf16 = false;  // f32 bytes holding bf16-rounded weights (see the top of the file)
};

// x's bits rounded to the nearest bf16 (ties to even) in the upper half, as
// wl::f32_to_bf16 rounds (NaN stays a quiet NaN). Inline so the per-call
// conversion loops vectorise: an out-of-line call per element was 12% of a
// frame of bench_dit --config T.
inline uint32_t bf16_bits_high(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  u = nan ? (u | 0x00400000u) : u + 0x7fffu + ((u >> 16) & 1u);
  return u & 0xffff0000u;
}
inline uint16_t to_bf16(float x) { return static_cast<uint16_t>(bf16_bits_high(x) >> 16); }
// x rounded to the nearest bf16, kept as f32.
inline float round_to_bf16(float x) {
  const uint32_t u = bf16_bits_high(x);
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

dnnl::memory::desc plain_weight_desc(int64_t n, int64_t k, dt type) {
  // W is stored [N, K] row-major: as the [K, N] operand that is layout "ba".
  return dnnl::memory::desc({k, n}, type, tag::ba);
}

// Primitives are created on one thread (loading) and run on another (the
// model thread); oneDNN's library-owned scratchpad is per creating thread, so
// every primitive here takes a scratchpad from its caller (cpu/scratchpad.h).
dnnl::matmul::primitive_desc make_pd(int64_t m, int64_t n, int64_t k, dt type,
                                     const dnnl::memory::desc& wdesc, bool has_bias) {
  dnnl::memory::desc src({m, k}, type, tag::ab);
  dnnl::memory::desc dst({m, n}, dt::f32, tag::ab);
  const dnnl::primitive_attr attr = user_scratchpad_attr();
  if (has_bias) {
    dnnl::memory::desc bias({1, n}, dt::f32, tag::ab);
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wdesc, bias, dst), attr, cpu_engine());
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wdesc, dst), attr, cpu_engine());
}

struct PrimitiveKey {
  int64_t m, n, k;
  int type;  // oneDNN data type of the operands (f32 for emulated bf16)
  bool bias;
  bool packed;
  int threads;  // oneDNN fixes a primitive's team size when it creates it (cpu_threads.h changes it)
  bool operator<(const PrimitiveKey& o) const {
    return std::tie(m, n, k, type, bias, packed, threads) <
           std::tie(o.m, o.n, o.k, o.type, o.bias, o.packed, o.threads);
  }
};

struct CachedMatmul {
  dnnl::matmul primitive;
  dnnl::memory::desc scratchpad;
};

std::mutex g_cache_mutex;
std::map<PrimitiveKey, CachedMatmul> g_primitives;

}  // namespace

ops::MatmulPrecision best_matmul_precision() {
  if (const char* env = std::getenv("WORLDLOOP_MATMUL")) {
    std::string v = env;
    if (v == "f32" || v == "F32") return ops::MatmulPrecision::F32;
    if (v == "bf16" || v == "BF16") return ops::MatmulPrecision::BF16;
  }
  return native_bf16() ? ops::MatmulPrecision::BF16 : ops::MatmulPrecision::F32;
}

ops::LinearWeight prepare_linear(const Tensor& weight, const Tensor& bias, ops::MatmulPrecision precision) {
  if (weight.rank() < 2) throw Error("prepare_linear: weight " + shape_str(weight.shape()) + " is not a matrix");
  const int64_t n = weight.dim(0);
  const int64_t k = weight.numel() / n;  // a Conv3d patch weight [D, C, 1, ph, pw] is [D, C*ph*pw]
  const bool bf16 = precision == ops::MatmulPrecision::BF16;
  const bool emulate = bf16 && !native_bf16();
  ops::LinearWeight lw;
  lw.precision = precision;
  lw.weight = weight.reshape({n, k}).to(bf16 ? DType::BF16 : DType::F32);
  if (bias.defined()) {
    if (bias.numel() != n)
      throw Error("prepare_linear: bias " + shape_str(bias.shape()) + " does not match weight " +
                  shape_str(weight.shape()));
    lw.bias = bias.reshape({n}).to(DType::F32);
  }

  // The bytes oneDNN multiplies: the weight itself, or for emulated bf16 its
  // bf16 values widened to f32.
  Tensor operand = emulate ? lw.weight.to(DType::F32) : lw.weight;
  const dt type = emulate ? dt::f32 : onednn_type(precision);

  // Ask oneDNN for its preferred layout and reorder once.
  dnnl::memory::desc any_w({k, n}, type, tag::any);
  try {
    auto pd = make_pd(kNominalRows, n, k, type, any_w, bias.defined());
    dnnl::memory::desc chosen = pd.weights_desc();
    if (chosen != plain_weight_desc(n, k, type) || emulate) {
      auto packed = std::make_shared<PackedWeight>();
      packed->desc = chosen;
      packed->memory = dnnl::memory(chosen, cpu_engine());
      packed->emulated_bf16 = emulate;
      dnnl::memory plain(plain_weight_desc(n, k, type), cpu_engine(), operand.raw());
      dnnl::stream s(cpu_engine());
      dnnl::reorder(plain, packed->memory).execute(s, plain, packed->memory);
      s.wait();
      lw.packed = packed;
    }
  } catch (const dnnl::error& e) {
    if (emulate) throw Error(std::string("prepare_linear: oneDNN has no f32 matmul for this processor: ") + e.what());
    lw.packed.reset();  // plain layout it is
  }
  return lw;
}

void linear(const Tensor& x, const ops::LinearWeight& w, Tensor& y) {
  const int64_t m = x.dim(0), k = x.dim(1), n = w.out_features();
  const auto* packed = static_cast<const PackedWeight*>(w.packed.get());
  const bool emulated = packed && packed->emulated_bf16;
  const dt type = emulated ? dt::f32 : onednn_type(w.precision);
  const bool has_bias = w.bias.defined();

  CachedMatmul prim;
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    PrimitiveKey key{m, n, k, static_cast<int>(type), has_bias, packed != nullptr, omp_get_max_threads()};
    auto it = g_primitives.find(key);
    if (it == g_primitives.end()) {
      dnnl::memory::desc wdesc = packed ? packed->desc : plain_weight_desc(n, k, type);
      auto pd = make_pd(m, n, k, type, wdesc, has_bias);
      it = g_primitives.emplace(key, CachedMatmul{dnnl::matmul(pd), pd.scratchpad_desc()}).first;
    }
    prim = it->second;
  }

  // Activations in the product's input type: bf16, or bf16 values kept as f32.
  static thread_local std::vector<uint16_t> x_bf16;
  static thread_local std::vector<float> x_rounded;
  void* src_ptr = const_cast<void*>(x.raw());
  const float* xf = x.f32();
  const int64_t total = m * k;
  if (emulated) {
    x_rounded.resize(static_cast<size_t>(total));
    float* xr = x_rounded.data();  // the caller's buffer: thread_local differs per OpenMP thread
#pragma omp parallel for simd schedule(static) if (total >= detail::kParallelMin)
    for (int64_t i = 0; i < total; ++i) xr[i] = round_to_bf16(xf[i]);
    src_ptr = xr;
  } else if (type == dt::bf16) {
    x_bf16.resize(static_cast<size_t>(total));
    uint16_t* xb = x_bf16.data();
#pragma omp parallel for simd schedule(static) if (total >= detail::kParallelMin)
    for (int64_t i = 0; i < total; ++i) xb[i] = to_bf16(xf[i]);
    src_ptr = xb;
  }

  dnnl::engine& eng = cpu_engine();
  dnnl::memory src({{m, k}, type, tag::ab}, eng, src_ptr);
  dnnl::memory dst({{m, n}, dt::f32, tag::ab}, eng, y.raw());
  dnnl::memory wmem = packed ? packed->memory
                             : dnnl::memory(plain_weight_desc(n, k, type), eng, const_cast<void*>(w.weight.raw()));
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wmem}, {DNNL_ARG_DST, dst},
                                              {DNNL_ARG_SCRATCHPAD, scratchpad_memory(prim.scratchpad, eng)}};
  if (has_bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory({{1, n}, dt::f32, tag::ab}, eng,
                                                         const_cast<void*>(w.bias.raw())));
  static thread_local dnnl::stream s(eng);
  prim.primitive.execute(s, args);
  s.wait();
}

}  // namespace wl::cpu
