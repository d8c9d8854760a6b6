// The table: every op of runtime/core/ops.h, on odd shapes and random inputs,
// against its float64 reference (tests/support/reference_ops), plus the shape
// and dtype errors ops.h promises to refuse. One add() per row; loops make
// the shape grids. Tolerances bound ref::normalised_error (max|a-b| / max|b|)
// unless a row says Metric::Relative; 0 means bit-exact.
//
// Tolerances (rows folded in from tests/test_ops.cpp and tests/test_conv_ops.cpp
// keep those tests' bounds; CUDA ones are those of tests/gpu/, which stay):
//   add, mul, gated_add, add_modulation    1e-6
//   biased_attention                       1e-5 (f32 on every backend)
//   layer_norm, layer_norm_modulate,
//   rms_norm, gelu_tanh, silu              1e-5 (gelu/silu also element-wise 5e-6 relative)
//   rope_3d                                1e-6 (float64 angles and rotation)
//   rms_norm_rope_3d                       1e-5 normed and rotated (vs the float64 chain)
//   attention                              1e-5 (CUDA BF16: 2e-2, cuDNN's bf16 products)
//   linear                                 F32 1e-5, BF16 2e-6 vs bf16-rounded inputs (as
//                                          tests/test_cpu_isa.cpp); CUDA 1e-5 / 1e-4
//   conv2d                                 1e-5
//   patchify, unpatchify, upsample, copy   exact
//   set_rows, get_rows                     exact (row copies)
//   merge_rows                             1e-6 (float merges, in order, vs float64)
//   attention_mass, expected_attention     1e-5 (CUDA: 1e-4, other sum order and expf)
//   query_sums                             1e-6 (float64 sums, compared as floats)
//   refusals                               a wl::Error whose message starts "op: "
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/backend_ops/harness.h"
#include "tests/support/reference_ops.h"

namespace wl::backend_ops {
namespace {

using P = MatmulPrecision;

std::string str(int64_t v) { return std::to_string(v); }

// The segments of an attention row: inputs 1.. are k, v, bias per segment.
std::vector<ops::KVSegment> segments(const std::vector<int64_t>& lens, bool bias,
                                     const std::function<const Tensor&(size_t)>& t) {
  std::vector<ops::KVSegment> segs;
  for (size_t s = 0; s < lens.size(); ++s)
    segs.push_back({t(1 + 3 * s).f32(), t(2 + 3 * s).f32(), bias ? t(3 + 3 * s).f32() : nullptr, lens[s]});
  return segs;
}

Case attention_row(int64_t Lq, int64_t H, int64_t d, std::vector<int64_t> lens, bool bias, float logit_scale) {
  std::vector<Input> in{uniform("q", {Lq, H, d})};
  std::string kv;
  for (size_t s = 0; s < lens.size(); ++s) {
    const std::string i = str(static_cast<int64_t>(s));
    in.push_back(hidden(uniform("k" + i, {lens[s], H, d})));
    in.push_back(hidden(uniform("v" + i, {lens[s], H, d})));
    in.push_back(hidden(bias ? uniform("bias" + i, {lens[s]}, -3.0f, 1.0f) : none("bias" + i)));
    if (s) kv += '+';
    kv += str(lens[s]);
  }
  const float scale = logit_scale / std::sqrt(static_cast<float>(d));
  std::string params = "kv " + kv + (bias ? " bias" : "");
  if (logit_scale != 1.0f) params += " logits x" + str(static_cast<int64_t>(logit_scale));
  return {.op = "attention",
          .params = params,
          .inputs = in,
          .tol = {.cpu = 1e-5, .cuda_bf16 = 2e-2},
          .run =
              [=](Args& a) -> Outputs {
                Tensor& out = a.out(0, {Lq, H, d});
                ops::attention(a.in(0), segments(lens, bias, [&](size_t i) -> const Tensor& { return a.in(i); }),
                               scale, out, a.precision);
                return {out};
              },
          .reference =
              [=](const Args& a) -> References {
                return {ref::attention(a.host(0), segments(lens, bias, [&](size_t i) -> const Tensor& {
                                         return a.host(i);
                                       }), scale)};
              },
          .precisions = true};
}

// gelu_tanh / silu's element-wise grid: -30..30 in steps of 0.0137 and the tails.
std::vector<float> activation_grid() {
  std::vector<float> v;
  for (float e = -30.0f; e <= 30.0f; e += 0.0137f) v.push_back(e);
  for (float e : {0.0f, -0.0f, 1e-30f, -1e-30f, 100.0f, -100.0f, 1e10f, -1e10f}) v.push_back(e);
  return v;
}

// The KV cache's row lists, fixed when the table is built: `n` distinct rows
// of `of`, shuffled.
std::vector<int32_t> distinct_rows(int64_t of, int64_t n, uint32_t seed) {
  std::vector<int32_t> all(static_cast<size_t>(of));
  std::iota(all.begin(), all.end(), 0);
  std::mt19937 g(seed);
  std::shuffle(all.begin(), all.end(), g);
  all.resize(static_cast<size_t>(n));
  return all;
}

std::vector<float> floats_of(const Tensor& t) { return t.defined() ? t.to_floats() : std::vector<float>{}; }

Tensor floats_tensor(const std::vector<float>& v) { return Tensor::from_floats(v, {static_cast<int64_t>(v.size())}); }

// expected_attention's pair outputs made comparable: a cost at or past the
// limit means "at least the limit", and a NaN cosine (not computed) is -2.
template <class T>
std::vector<T> capped(std::vector<T> cost, double limit) {
  for (T& c : cost) c = std::min<T>(c, static_cast<T>(limit));
  return cost;
}
template <class T>
std::vector<T> unnan(std::vector<T> cosine) {
  for (T& c : cosine)
    if (std::isnan(c)) c = -2;
  return cosine;
}

struct ExpectedCase {
  int64_t S, H, d, dt, n, offsets;
  bool var, weighted;
  int64_t pairs;
  float limit;
};

Case expected_attention_row(ExpectedCase e) {
  const std::vector<int32_t> rows = distinct_rows(e.S, e.n, static_cast<uint32_t>(e.S * 31 + e.n));
  std::vector<ops::RowPair> pairs;
  std::mt19937 g(static_cast<uint32_t>(e.n * 7 + e.pairs));
  for (int64_t i = 0; i < e.pairs; ++i) {
    const int32_t a = static_cast<int32_t>(g() % e.n), b = static_cast<int32_t>(g() % e.n);
    pairs.push_back({a, b == a ? static_cast<int32_t>((a + 1) % e.n) : b});
  }
  std::string params = "rows " + str(e.n) + " dt " + str(e.dt) + " offsets " + str(e.offsets) +
                       (e.var ? " var" : "") + (e.weighted ? " weighted" : "") + " pairs " + str(e.pairs);
  if (std::isfinite(e.limit)) params += " limit " + std::to_string(e.limit).substr(0, 4);
  auto query = [e](const Args& a) {
    ops::ExpectedQuery q;
    q.offsets = e.offsets;
    q.dt = e.dt;
    q.time = floats_of(a.host(3));
    q.space = floats_of(a.host(4));
    q.var = floats_of(a.host(5));
    return q;
  };
  return {.op = "expected_attention",
          .params = params,
          .inputs = {uniform("keys", {e.S, e.H, e.d}), uniform("values", {e.S, e.H, e.d}),
                     hidden(uniform("log_count", {e.n}, 0.0f, 2.0f)),
                     hidden(uniform("time", {e.offsets * e.H * e.dt}, -0.5f, 0.5f)),
                     hidden(uniform("space", {e.H * (e.d - e.dt)}, -0.5f, 0.5f)),
                     hidden(e.var ? uniform("var", {e.H * e.d}, 0.0f, 0.05f) : none("var"))},
          .tol = {.cpu = 1e-5, .cuda = 1e-4},
          .run =
              [=](Args& a) -> Outputs {
                const ops::ExpectedScores r = ops::expected_attention(
                    a.in(0), a.in(1), rows, floats_of(a.host(2)), query(a), e.weighted, pairs, e.limit);
                return {floats_tensor(r.attention), floats_tensor(r.score), floats_tensor(capped(r.pair_cost, e.limit)),
                        floats_tensor(unnan(r.pair_cosine))};
              },
          .reference =
              [=](const Args& a) -> References {
                std::vector<std::vector<double>> r = ref::expected_attention(
                    a.host(0), a.host(1), rows, floats_of(a.host(2)), query(a), e.weighted, pairs, e.limit);
                return {r[0], r[1], capped(r[2], e.limit), unnan(r[3])};
              }};
}

}  // namespace

std::vector<Case> make_cases() {
  std::vector<Case> t;
  auto add = [&](Case c) { t.push_back(std::move(c)); };

  // ---- memory ---------------------------------------------------------------------
  for (DType dt : {DType::F32, DType::BF16})
    for (Shape s : {Shape{1}, Shape{7, 130}, Shape{0, 5}, Shape{70001}})
      add({.op = "copy",
           .inputs = {uniform("src", s, -2.0f, 2.0f, dt)},
           .tol = {0},
           .run =
               [=](Args& a) -> Outputs {
                 Tensor& dst = a.out(0, s, dt);
                 ops::copy(a.in(0), dst);
                 return {dst};
               },
           .reference = [](const Args& a) -> References { return {ref::to_double(a.host(0))}; }});
  add(refusal("copy", "shapes differ", {zeros("src", {3, 64}), zeros("dst", {3, 65})},
              [](Args& a) { ops::copy(a.in(0), a.in(1)); }));
  add(refusal("copy", "dtypes differ", {zeros("src", {3, 64}), zeros("dst", {3, 64}, DType::BF16)},
              [](Args& a) { ops::copy(a.in(0), a.in(1)); }));

  // ---- linear (and prepare_linear) ------------------------------------------------
  // tests/gpu/test_cuda_ops.cpp's grid and tests/test_cpu_isa.cpp's BF16 shapes.
  struct Lin {
    int64_t M, K, N;
    bool bias;
    DType wdt = DType::F32;
  };
  std::vector<Lin> lins;
  for (int64_t M : {1, 7, 131})
    for (int64_t K : {3, 64, 200})
      for (int64_t N : {1, 5, 96, 257})
        for (bool bias : {false, true}) lins.push_back({M, K, N, bias});
  for (Lin l : {Lin{7, 19, 33, false}, Lin{64, 192, 192, true}, Lin{257, 130, 71, true},
                Lin{256, 768, 192, false}, Lin{33, 1000, 17, true}, Lin{9, 40, 33, true, DType::BF16},
                Lin{9, 40, 33, true, DType::F16}})
    lins.push_back(l);
  for (Lin l : lins)
    add({.op = "linear",
         .inputs = {uniform("x", {l.M, l.K}), uniform("W", {l.N, l.K}, -0.5f, 0.5f, l.wdt),
                    l.bias ? uniform("b", {l.N}, -2.0f, 2.0f, l.wdt) : none("b")},
         .tol = {.cpu = 1e-5, .cpu_bf16 = 2e-6, .cuda = 1e-5, .cuda_bf16 = 1e-4},
         .run =
             [=](Args& a) -> Outputs {
               const ops::LinearWeight& w = a.once<ops::LinearWeight>(
                   [&] { return ops::prepare_linear(a.host(1), a.host(2), a.precision, a.backend); });
               Tensor& y = a.out(0, {l.M, l.N});
               ops::linear(a.in(0), w, y);
               return {y};
             },
         .reference = [](const Args& a) -> References {
           return {ref::linear(a.host(0), a.host(1), a.host(2), a.precision)};
         },
         .precisions = true});
  add(refusal("linear", "x and W differ in K", {zeros("x", {3, 65}), zeros("W", {65, 64}), zeros("y", {3, 64})},
              [](Args& a) {
                ops::LinearWeight w;
                w.weight = a.in(1);
                ops::linear(a.in(0), w, a.in(2));
              }));
  add(refusal("linear", "y is not [M, N]", {zeros("x", {3, 64}), zeros("W", {65, 64}), zeros("y", {3, 64})},
              [](Args& a) {
                ops::LinearWeight w;
                w.weight = a.in(1);
                ops::linear(a.in(0), w, a.in(2));
              }));
  add(refusal("linear", "weight dtype is not the precision's",
              {zeros("x", {3, 64}), zeros("W", {65, 64}, DType::BF16), zeros("y", {3, 65})}, [](Args& a) {
                ops::LinearWeight w;
                w.weight = a.in(1);  // BF16 with precision F32
                ops::linear(a.in(0), w, a.in(2));
              }));
  add(refusal("prepare_linear", "bias does not match", {zeros("W", {3, 64}), zeros("b", {65})},
              [](Args& a) { ops::prepare_linear(a.host(0), a.host(1), P::F32, a.backend); }));

  // ---- layer_norm -------------------------------------------------------------------
  // An offset mean checks the variance is not computed as E[x^2] - E[x]^2 in float.
  for (int64_t rows : {1, 7, 33, 131, 300})  // 300 x 130: large enough to run threaded
    for (int64_t D : {8, 48, 72, 130})
      for (int affine = 0; affine < 3; ++affine)
        for (bool in_place : {false, true})
          add({.op = "layer_norm",
               .params = std::string(affine == 0 ? "" : affine == 1 ? "affine w" : "affine w+b") +
                         (in_place ? " in place" : ""),
               .inputs = {uniform("x", {rows, D}, 40.0f, 44.0f), affine >= 1 ? uniform("w", {D}) : none("w"),
                          affine >= 2 ? uniform("b", {D}) : none("b")},
               .tol = {1e-5},
               .run =
                   [=](Args& a) -> Outputs {
                     Tensor& y = in_place ? a.in(0) : a.out(0, {rows, D});
                     ops::layer_norm(a.in(0), a.in(1), a.in(2), 1e-6f, y);
                     return {y};
                   },
               .reference = [](const Args& a) -> References {
                 return {ref::layer_norm(a.host(0), a.host(1), a.host(2), 1e-6)};
               }});
  add(refusal("layer_norm", "x and y differ", {zeros("x", {3, 64}), zeros("y", {3, 65})},
              [](Args& a) { ops::layer_norm(a.in(0), Tensor(), Tensor(), 1e-6f, a.in(1)); }));
  add(refusal("layer_norm", "weight width", {zeros("x", {3, 64}), zeros("w", {65})},
              [](Args& a) { ops::layer_norm(a.in(0), a.in(1), Tensor(), 1e-6f, a.in(0)); }));
  add(refusal("layer_norm", "x BF16", {zeros("x", {3, 64}, DType::BF16), zeros("y", {3, 64})},
              [](Args& a) { ops::layer_norm(a.in(0), Tensor(), Tensor(), 1e-6f, a.in(1)); }));

  // ---- layer_norm_modulate -------------------------------------------------------
  for (int64_t T : {1, 7, 33, 131, 300})
    for (int64_t D : {8, 72, 130})
      for (int64_t tpf : {1, 5, 131})
        for (bool in_place : {false, true}) {
          const int shift = in_place ? 4 : 0, scale = in_place ? 3 : 1;
          add({.op = "layer_norm_modulate",
               .params = "tpf " + str(tpf) + " rows " + str(shift) + "," + str(scale) + (in_place ? " in place" : ""),
               .inputs = {uniform("x", {T, D}, -3.0f, 5.0f), uniform("mod", {(T + tpf - 1) / tpf, 6, D}, -1.0f, 1.0f)},
               .tol = {1e-5},
               .run =
                   [=](Args& a) -> Outputs {
                     Tensor& y = in_place ? a.in(0) : a.out(0, {T, D});
                     ops::layer_norm_modulate(a.in(0), a.in(1), shift, scale, tpf, 1e-6f, y);
                     return {y};
                   },
               .reference = [=](const Args& a) -> References {
                 return {ref::layer_norm_modulate(a.host(0), a.host(1), shift, scale, tpf, 1e-6)};
               }});
        }
  auto lnm_refusal = [&](std::string why, Shape mod, int shift, int scale, int64_t tpf) {
    add(refusal("layer_norm_modulate", why, {zeros("x", {3, 64}), zeros("mod", mod)}, [=](Args& a) {
      ops::layer_norm_modulate(a.in(0), a.in(1), shift, scale, tpf, 1e-6f, a.in(0));
    }));
  };
  lnm_refusal("mod width", {1, 6, 65}, 0, 1, 3);
  lnm_refusal("row out of range", {1, 6, 64}, 0, 6, 3);
  lnm_refusal("too few frames", {1, 6, 64}, 0, 1, 2);
  lnm_refusal("tpf 0", {1, 6, 64}, 0, 1, 0);

  // ---- rms_norm ---------------------------------------------------------------------
  for (int64_t rows : {1, 7, 33, 131, 300})
    for (int64_t D : {8, 48, 72, 130})
      for (bool weighted : {false, true})
        for (bool in_place : {false, true})
          add({.op = "rms_norm",
               .params = in_place ? "in place" : "",
               .inputs = {uniform("x", {rows, D}, -3.0f, 5.0f), weighted ? uniform("w", {D}) : none("w")},
               .tol = {1e-5},
               .run =
                   [=](Args& a) -> Outputs {
                     Tensor& y = in_place ? a.in(0) : a.out(0, {rows, D});
                     ops::rms_norm(a.in(0), a.in(1), 1e-6f, y);
                     return {y};
                   },
               .reference = [](const Args& a) -> References {
                 return {ref::rms_norm(a.host(0), a.host(1), 1e-6)};
               }});
  add({.op = "rms_norm",  // [T, H, d] tensors normalise over d
       .params = "rank 3 in place",
       .inputs = {uniform("x", {5, 3, 18}), uniform("w", {18})},
       .tol = {1e-5},
       .run =
           [](Args& a) -> Outputs {
             ops::rms_norm(a.in(0), a.in(1), 1e-6f, a.in(0));
             return {a.in(0)};
           },
       .reference = [](const Args& a) -> References { return {ref::rms_norm(a.host(0), a.host(1), 1e-6)}; }});
  add(refusal("rms_norm", "weight width", {zeros("x", {3, 64}), zeros("w", {65})},
              [](Args& a) { ops::rms_norm(a.in(0), a.in(1), 1e-6f, a.in(0)); }));

  // ---- add, gated_add, add_modulation -------------------------------------------
  for (Shape s : {Shape{1, 8}, Shape{1, 72}, Shape{1, 130}, Shape{7, 8}, Shape{7, 72}, Shape{7, 130}, Shape{33, 8},
                  Shape{33, 72}, Shape{33, 130}, Shape{131, 8}, Shape{131, 72}, Shape{131, 130}, Shape{300, 8},
                  Shape{300, 72}, Shape{300, 130}, Shape{70001}})  // 70001: several parallel chunks
    add({.op = "add",
         .inputs = {uniform("x", s), uniform("y", s)},
         .tol = {1e-6},
         .run =
             [](Args& a) -> Outputs {
               ops::add(a.in(0), a.in(1));
               return {a.in(0)};
             },
         .reference = [](const Args& a) -> References { return {ref::add(a.host(0), a.host(1))}; }});
  add(refusal("add", "shapes differ", {zeros("x", {3, 64}), zeros("y", {3, 65})},
              [](Args& a) { ops::add(a.in(0), a.in(1)); }));

  for (Shape s : {Shape{1, 8}, Shape{7, 72}, Shape{33, 130}, Shape{131, 97}, Shape{70001}})
    add({.op = "mul",
         .inputs = {uniform("x", s), uniform("y", s)},
         .tol = {1e-6},
         .run =
             [](Args& a) -> Outputs {
               ops::mul(a.in(0), a.in(1));
               return {a.in(0)};
             },
         .reference = [](const Args& a) -> References { return {ref::mul(a.host(0), a.host(1))}; }});
  add(refusal("mul", "shapes differ", {zeros("x", {3, 64}), zeros("y", {3, 65})},
              [](Args& a) { ops::mul(a.in(0), a.in(1)); }));

  for (int64_t T : {1, 7, 33, 131, 300})
    for (int64_t D : {8, 72, 130})
      for (int64_t tpf : {1, 4, 200})
        add({.op = "gated_add",
             .params = "tpf " + str(tpf) + " gate row 2",
             .inputs = {uniform("x", {T, D}), uniform("y", {T, D}), uniform("mod", {(T + tpf - 1) / tpf + 1, 3, D})},
             .tol = {1e-6},
             .run =
                 [=](Args& a) -> Outputs {
                   ops::gated_add(a.in(0), a.in(1), a.in(2), 2, tpf);
                   return {a.in(0)};
                 },
             .reference = [=](const Args& a) -> References {
               return {ref::gated_add(a.host(0), a.host(1), a.host(2), 2, tpf)};
             }});
  add(refusal("gated_add", "x and y differ", {zeros("x", {3, 64}), zeros("y", {3, 65}), zeros("mod", {1, 6, 64})},
              [](Args& a) { ops::gated_add(a.in(0), a.in(1), a.in(2), 0, 3); }));
  add(refusal("gated_add", "gate row -1", {zeros("x", {3, 64}), zeros("y", {3, 64}), zeros("mod", {1, 6, 64})},
              [](Args& a) { ops::gated_add(a.in(0), a.in(1), a.in(2), -1, 3); }));

  for (int64_t F : {1, 3, 5})
    for (int64_t R : {1, 6})
      for (int64_t D : {1, 33, 192})
        for (bool per_row : {false, true})
          add({.op = "add_modulation",
               .params = per_row ? "e per row" : "e per frame",
               .inputs = {uniform("base", {R, D}), per_row ? uniform("e", {F, R, D}) : uniform("e", {F, D})},
               .tol = {1e-6},
               .run =
                   [=](Args& a) -> Outputs {
                     Tensor& out = a.out(0, {F, R, D});
                     ops::add_modulation(a.in(0), a.in(1), out);
                     return {out};
                   },
               .reference = [](const Args& a) -> References {
                 return {ref::add_modulation(a.host(0), a.host(1))};
               }});
  auto am_refusal = [&](std::string why, std::vector<Input> in) {
    add(refusal("add_modulation", why, std::move(in),
                [](Args& a) { ops::add_modulation(a.in(0), a.in(1), a.in(2)); }));
  };
  am_refusal("e rows differ", {zeros("base", {6, 32}), zeros("e", {2, 5, 32}), zeros("out", {2, 6, 32})});
  am_refusal("e width differs", {zeros("base", {6, 32}), zeros("e", {2, 33}), zeros("out", {2, 6, 32})});
  am_refusal("e rank 1", {zeros("base", {6, 32}), zeros("e", {32}), zeros("out", {1, 6, 32})});
  am_refusal("out shape", {zeros("base", {6, 32}), zeros("e", {2, 32}), zeros("out", {3, 6, 32})});
  am_refusal("base BF16", {zeros("base", {6, 32}, DType::BF16), zeros("e", {2, 32}), zeros("out", {2, 6, 32})});

  // ---- activations --------------------------------------------------------------------
  // 100: exp overflows for the large negative inputs.
  for (const char* op : {"gelu_tanh", "silu"}) {
    const bool gelu = std::string(op) == "gelu_tanh";
    auto run = [gelu](Args& a) -> Outputs {
      gelu ? ops::gelu_tanh(a.in(0)) : ops::silu(a.in(0));
      return {a.in(0)};
    };
    auto reference = [gelu](const Args& a) -> References {
      return {gelu ? ref::gelu_tanh(a.host(0)) : ref::silu(a.host(0))};
    };
    for (float range : {1.0f, 8.0f, 60.0f, 100.0f})
      for (int64_t n : {1, 7, 33, 1000, 4099, 40001, 70001}) {
        if (range == 100.0f && n < 4099) continue;
        add({.op = op,
             .params = "range " + str(static_cast<int64_t>(range)),
             .inputs = {uniform("x", {n}, -range, range)},
             .tol = {1e-5},
             .run = run,
             .reference = reference});
      }
    // Element-wise accuracy: |a - b| <= 5e-6 |b| + 1e-12 everywhere (a tiny
    // absolute floor for the negative tails, where float rounding of the
    // argument dominates), over a fine grid and the tails.
    add({.op = op,
         .params = "grid -30..30 and tails, element-wise",
         .inputs = {values("x", activation_grid())},
         .tol = {5e-6},
         .run = run,
         .reference = reference,
         .metric = Metric::Relative,
         .floor = 1e-12 / 5e-6});
  }
  add(refusal("gelu_tanh", "x F16", {zeros("x", {3, 64}, DType::F16)}, [](Args& a) { ops::gelu_tanh(a.in(0)); }));
  add(refusal("silu", "x BF16", {zeros("x", {3, 64}, DType::BF16)}, [](Args& a) { ops::silu(a.in(0)); }));

  // ---- rope_3d, rms_norm_rope_3d ------------------------------------------------------
  struct Grid {
    int64_t frames, rows, cols;
  };
  auto grid_str = [](Grid g) { return str(g.frames) + "x" + str(g.rows) + "x" + str(g.cols); };
  for (int64_t H : {1, 2, 5})
    for (int64_t d : {2, 4, 6, 16, 18, 64, 128})
      for (int64_t frame0 : {0, 5, 1500, 123456})
        for (Grid g : {Grid{1, 1, 1}, Grid{2, 3, 5}, Grid{3, 4, 2}, Grid{1, 4, 11}, Grid{3, 7, 9}}) {
          const int64_t T = g.frames * g.rows * g.cols;
          if (T * H * d > 20000 && !(H == 5 && d == 128 && frame0 == 1500)) continue;  // one large, threaded case
          add({.op = "rope_3d",
               .params = "frame0 " + str(frame0) + " grid " + grid_str(g),
               .inputs = {uniform("x", {T, H, d})},
               .tol = {1e-6},
               .run =
                   [=](Args& a) -> Outputs {
                     ops::rope_3d(a.in(0), frame0, g.frames, g.rows, g.cols);
                     return {a.in(0)};
                   },
               .reference = [=](const Args& a) -> References {
                 return {ref::rope_3d(a.host(0), frame0, g.frames, g.rows, g.cols)};
               }});
        }
  auto rope_refusal = [&](std::string why, Shape x, int64_t frame0, Grid g) {
    add(refusal("rope_3d", why, {zeros("x", x)},
                [=](Args& a) { ops::rope_3d(a.in(0), frame0, g.frames, g.rows, g.cols); }));
  };
  rope_refusal("grid 1x2x2 for 6 tokens", {6, 2, 16}, 0, {1, 2, 2});
  rope_refusal("frame0 -1", {6, 2, 16}, -1, {1, 2, 3});
  rope_refusal("rank 2", {3, 64}, 0, {1, 1, 3});
  rope_refusal("odd head width", {6, 2, 15}, 0, {1, 2, 3});

  for (int64_t H : {1, 2, 3})
    for (int64_t d : {2, 6, 64, 128})
      for (int64_t frame0 : {0, 7, 3000})
        for (Grid g : {Grid{1, 1, 1}, Grid{2, 3, 5}, Grid{3, 4, 2}})
          for (bool weighted : {false, true}) {
            const int64_t T = g.frames * g.rows * g.cols;
            add({.op = "rms_norm_rope_3d",
                 .params = "frame0 " + str(frame0) + " grid " + grid_str(g),
                 .inputs = {uniform("x", {T, H, d}, -2.0f, 3.0f),
                            weighted ? uniform("w", {H * d}, 0.5f, 1.5f) : none("w")},
                 .tol = {1e-5},
                 .run =
                     [=](Args& a) -> Outputs {
                       Tensor& normed = a.out(0, {T, H, d});
                       Tensor& rotated = a.out(1, {T, H, d});
                       ops::rms_norm_rope_3d(a.in(0), a.in(1), 1e-6f, frame0, g.frames, g.rows, g.cols, normed,
                                             rotated);
                       return {normed, rotated};
                     },
                 .reference = [=](const Args& a) -> References {
                   return ref::rms_norm_rope_3d(a.host(0), a.host(1), 1e-6, frame0, g.frames, g.rows, g.cols);
                 }});
          }
  add(refusal("rms_norm_rope_3d", "weight width", {zeros("x", {6, 2, 16}), zeros("w", {16}), zeros("out", {6, 2, 16})},
              [](Args& a) { ops::rms_norm_rope_3d(a.in(0), a.in(1), 1e-6f, 0, 1, 2, 3, a.in(2), a.in(2)); }));
  add(refusal("rms_norm_rope_3d", "odd head width", {zeros("x", {6, 2, 15}), zeros("out", {6, 2, 15})},
              [](Args& a) { ops::rms_norm_rope_3d(a.in(0), Tensor(), 1e-6f, 0, 1, 2, 3, a.in(1), a.in(1)); }));

  // ---- biased_attention: dense bias per head and a key mask (umT5) ------------------------
  {
    // The key mask of a row: `kept` leading keys of Lk (a padded prompt), or
    // every third key dropped (any pattern), or none kept.
    auto mask_of = [](int64_t Lk, int64_t kept, bool holes) {
      std::vector<float> m(static_cast<size_t>(Lk), 0.0f);
      for (int64_t j = 0; j < Lk; ++j) m[j] = (holes ? j % 3 != 1 : j < kept) ? 1.0f : 0.0f;
      return m;
    };
    struct BiasedCase {
      int64_t Lq, Lk, H, d;
      bool bias, mask, holes;
      int64_t kept;
      float scale;
    };
    for (BiasedCase c : {BiasedCase{1, 1, 1, 1, true, false, false, 0, 1.0f},
                         BiasedCase{7, 7, 3, 5, true, true, false, 4, 1.0f},
                         BiasedCase{19, 23, 2, 32, true, true, true, 0, 0.17f},
                         BiasedCase{33, 33, 4, 16, false, true, false, 20, 1.0f},
                         BiasedCase{20, 41, 5, 12, true, false, false, 0, 0.5f},
                         BiasedCase{64, 64, 2, 24, true, true, false, 0, 1.0f},   // no key kept: zeros
                         BiasedCase{130, 130, 3, 64, true, true, false, 77, 1.0f}}) {
      std::vector<Input> in{uniform("q", {c.Lq, c.H, c.d}), hidden(uniform("k", {c.Lk, c.H, c.d})),
                            hidden(uniform("v", {c.Lk, c.H, c.d}))};
      in.push_back(c.bias ? uniform("bias", {c.H, c.Lq, c.Lk}, -4.0f, 4.0f) : none("bias"));
      in.push_back(c.mask ? hidden(values("key_mask", mask_of(c.Lk, c.kept, c.holes))) : none("key_mask"));
      std::string params = "Lk " + str(c.Lk);
      if (c.mask) params += c.holes ? " mask holes" : " kept " + str(c.kept);
      if (c.scale != 1.0f) params += " scaled";
      const BiasedCase cc = c;
      add({.op = "biased_attention",
           .params = params,
           .inputs = in,
           .tol = {1e-5},
           .run =
               [=](Args& a) -> Outputs {
                 Tensor& out = a.out(0, {cc.Lq, cc.H, cc.d});
                 ops::biased_attention(a.in(0), a.in(1), a.in(2), a.in(3), a.in(4), cc.scale, out);
                 return {out};
               },
           .reference =
               [=](const Args& a) -> References {
                 return {ref::biased_attention(a.host(0), a.host(1), a.host(2), a.host(3), a.host(4), cc.scale)};
               }});
    }
    add(refusal("biased_attention", "bias [2, 5, 6] for Lk 7",
                {zeros("q", {5, 2, 4}), zeros("k", {7, 2, 4}), zeros("v", {7, 2, 4}), zeros("bias", {2, 5, 6}),
                 zeros("out", {5, 2, 4})},
                [](Args& a) { ops::biased_attention(a.in(0), a.in(1), a.in(2), a.in(3), Tensor(), 1.0f, a.in(4)); }));
    add(refusal("biased_attention", "key_mask [6] for Lk 7",
                {zeros("q", {5, 2, 4}), zeros("k", {7, 2, 4}), zeros("v", {7, 2, 4}), zeros("mask", {6}),
                 zeros("out", {5, 2, 4})},
                [](Args& a) { ops::biased_attention(a.in(0), a.in(1), a.in(2), Tensor(), a.in(3), 1.0f, a.in(4)); }));
    add(refusal("biased_attention", "k heads differ",
                {zeros("q", {5, 2, 4}), zeros("k", {7, 3, 4}), zeros("v", {7, 3, 4}), zeros("out", {5, 2, 4})},
                [](Args& a) { ops::biased_attention(a.in(0), a.in(1), a.in(2), Tensor(), Tensor(), 1.0f, a.in(3)); }));
  }

  // ---- attention ------------------------------------------------------------------------
  const std::vector<std::vector<int64_t>> seg_sets = {{1}, {13}, {65, 0, 7}, {0, 130, 1, 64}, {3, 0}, {200}};
  for (int64_t Lq : {1, 7, 33, 70})
    for (int64_t H : {1, 2, 5})
      for (int64_t d : {2, 6, 16, 18, 64, 128}) {
        if (Lq * H * d > 70 * 2 * 128) continue;  // keep the float64 reference fast
        add(attention_row(Lq, H, d, seg_sets[(Lq + H + d) % seg_sets.size()], (Lq + d) % 2 == 0, 1.0f));
      }
  for (const auto& lens : seg_sets)  // every segment pattern with and without bias at one shape
    for (bool bias : {false, true}) add(attention_row(19, 3, 16, lens, bias, 1.0f));
  add(attention_row(21, 2, 64, {50, 70, 3}, true, 12.0f));  // large logits: the online max must rescale
  add(attention_row(300, 4, 64, {150, 0, 90}, true, 1.0f));  // the 64-row query blocks
  add(attention_row(131, 3, 128, {257}, false, 1.0f));       // head width 128
  {
    auto q = [](Shape s) { return zeros("q", s); };
    auto kv = [](Shape s) { return hidden(zeros("kv", s)); };
    add(refusal("attention", "out [6, 2, 17]", {q({6, 2, 16}), kv({4, 2, 16}), zeros("out", {6, 2, 17})}, [](Args& a) {
      ops::attention(a.in(0), {{a.in(1).f32(), a.in(1).f32(), nullptr, 4}}, 1.0f, a.in(2));
    }));
    add(refusal("attention", "no segments", {q({6, 2, 16}), zeros("out", {6, 2, 16})},
                [](Args& a) { ops::attention(a.in(0), {}, 1.0f, a.in(1)); }));
    add(refusal("attention", "segment without keys", {q({6, 2, 16}), zeros("out", {6, 2, 16})},
                [](Args& a) { ops::attention(a.in(0), {{nullptr, nullptr, nullptr, 3}}, 1.0f, a.in(1)); }));
    add(refusal("attention", "q rank 2", {q({3, 64}), kv({4, 2, 16})}, [](Args& a) {
      ops::attention(a.in(0), {{a.in(1).f32(), a.in(1).f32(), nullptr, 4}}, 1.0f, a.in(0));
    }));
  }

  // ---- conv2d (and prepare_conv2d), upsample_nearest_2x -----------------------------
  struct Conv {
    int64_t n, c, h, w, o, k;
    int stride, pad;
    bool bias;
    bool gauss;  // tests/test_conv_ops.cpp's normal inputs, else uniform [-1, 1)
  };
  std::vector<Conv> convs = {
      {1, 3, 7, 9, 5, 3, 1, 1, true, true},  {2, 4, 16, 16, 8, 3, 2, 1, true, true},
      {3, 5, 11, 6, 2, 3, 2, 1, false, true}, {1, 1, 1, 1, 3, 3, 1, 1, true, true},
      {2, 6, 13, 17, 7, 1, 1, 0, true, true}, {1, 16, 32, 32, 3, 3, 1, 1, true, true}};
  // tests/gpu/test_cuda_ops.cpp's shapes, with and without bias.
  for (Conv c : {Conv{1, 1, 5, 7, 1, 1, 1, 0}, Conv{1, 3, 9, 17, 4, 3, 1, 1}, Conv{2, 5, 9, 7, 7, 3, 2, 1},
                 Conv{2, 3, 8, 11, 4, 1, 2, 0}, Conv{1, 4, 17, 9, 3, 3, 2, 0}, Conv{1, 7, 6, 6, 5, 3, 1, 0},
                 Conv{3, 2, 13, 5, 6, 1, 1, 0}, Conv{1, 64, 33, 47, 32, 3, 1, 1}, Conv{1, 32, 31, 21, 16, 3, 2, 1},
                 Conv{2, 16, 20, 20, 64, 1, 1, 0}})
    for (bool bias : {false, true}) {
      c.bias = bias;
      convs.push_back(c);
    }
  for (Conv c : convs) {
    const int64_t ho = (c.h + 2 * c.pad - c.k) / c.stride + 1, wo = (c.w + 2 * c.pad - c.k) / c.stride + 1;
    auto in = [&](std::string name, Shape s) { return c.gauss ? normal(name, s) : uniform(name, s, -1.0f, 1.0f); };
    add({.op = "conv2d",
         .params = "stride " + str(c.stride) + " pad " + str(c.pad),
         .inputs = {in("x", {c.n, c.c, c.h, c.w}), in("w", {c.o, c.c, c.k, c.k}), c.bias ? in("b", {c.o}) : none("b")},
         .tol = {1e-5},
         .run =
             [=](Args& a) -> Outputs {
               const ops::ConvWeight& w = a.once<ops::ConvWeight>(
                   [&] { return ops::prepare_conv2d(a.host(1), a.host(2), c.stride, c.pad, a.backend); });
               Tensor& y = a.out(0, {c.n, c.o, ho, wo});
               ops::conv2d(a.in(0), w, y);
               return {y};
             },
         .reference = [=](const Args& a) -> References {
           return {ref::conv2d(a.host(0), a.host(1), a.host(2), c.stride, c.pad)};
         }});
  }
  add(refusal("conv2d", "channels differ", {zeros("x", {1, 3, 8, 8}), zeros("w", {4, 2, 3, 3}), zeros("y", {1, 4, 8, 8})},
              [](Args& a) {
                ops::ConvWeight w = ops::prepare_conv2d(a.host(1), Tensor(), 1, 1, a.backend);
                ops::conv2d(a.in(0), w, a.in(2));
              }));
  add(refusal("conv2d", "y shape", {zeros("x", {1, 3, 8, 8}), zeros("w", {4, 3, 3, 3}), zeros("y", {1, 4, 7, 8})},
              [](Args& a) {
                ops::ConvWeight w = ops::prepare_conv2d(a.host(1), Tensor(), 1, 1, a.backend);
                ops::conv2d(a.in(0), w, a.in(2));
              }));
  add(refusal("prepare_conv2d", "bias does not match", {zeros("w", {4, 3, 3, 3}), zeros("b", {5})},
              [](Args& a) { ops::prepare_conv2d(a.host(0), a.host(1), 1, 1, a.backend); }));

  for (Shape s : {Shape{1, 1, 1, 1}, Shape{2, 3, 5, 7}, Shape{1, 16, 9, 33}})
    add({.op = "upsample_nearest_2x",
         .inputs = {normal("x", s)},
         .tol = {0},
         .run =
             [=](Args& a) -> Outputs {
               Tensor& y = a.out(0, {s[0], s[1], 2 * s[2], 2 * s[3]});
               ops::upsample_nearest_2x(a.in(0), y);
               return {y};
             },
         .reference = [](const Args& a) -> References { return {ref::upsample_nearest_2x(a.host(0))}; }});
  add(refusal("upsample_nearest_2x", "y not doubled", {zeros("x", {1, 3, 8, 8}), zeros("y", {1, 3, 15, 16})},
              [](Args& a) { ops::upsample_nearest_2x(a.in(0), a.in(1)); }));

  // ---- patchify, unpatchify -------------------------------------------------------------
  struct Patch {
    int64_t F, C, h, w;
    int ph, pw;
  };
  std::vector<Patch> patches = {{1, 1, 1, 1, 1, 1}, {2, 3, 2, 5, 2, 2}, {3, 16, 3, 4, 2, 2},
                                {1, 5, 2, 3, 1, 3}, {3, 16, 16, 16, 2, 2}};
  for (int64_t C : {1, 3})  // tests/gpu/test_cuda_ops.cpp's patch sizes on a 5 x 7 grid
    for (int ph : {1, 2, 3})
      for (int pw : {1, 2}) patches.push_back({3, C, 5, 7, ph, pw});
  for (Patch p : patches) {
    const std::string params = "patch " + str(p.ph) + "x" + str(p.pw);
    add({.op = "patchify",
         .params = params,
         .inputs = {uniform("x", {p.F, p.C, p.h * p.ph, p.w * p.pw})},
         .tol = {0},
         .run =
             [=](Args& a) -> Outputs {
               Tensor& out = a.out(0, {p.F * p.h * p.w, p.C * p.ph * p.pw});
               ops::patchify(a.in(0), p.ph, p.pw, out);
               return {out};
             },
         .reference = [=](const Args& a) -> References { return {ref::patchify(a.host(0), p.ph, p.pw)}; }});
    add({.op = "unpatchify",
         .params = params,
         .inputs = {uniform("tokens", {p.F * p.h * p.w, p.ph * p.pw * p.C})},
         .tol = {0},
         .run =
             [=](Args& a) -> Outputs {
               Tensor& out = a.out(0, {p.F, p.C, p.h * p.ph, p.w * p.pw});
               ops::unpatchify(a.in(0), p.F, p.h, p.w, p.ph, p.pw, p.C, out);
               return {out};
             },
         .reference = [=](const Args& a) -> References {
           return {ref::unpatchify(a.host(0), p.F, p.h, p.w, p.ph, p.pw, p.C)};
         }});
  }
  add(refusal("patchify", "not divisible", {zeros("x", {1, 3, 4, 5}), zeros("patches", {4, 12})},
              [](Args& a) { ops::patchify(a.in(0), 2, 2, a.in(1)); }));
  add(refusal("patchify", "patches shape", {zeros("x", {1, 3, 4, 4}), zeros("patches", {3, 65})},
              [](Args& a) { ops::patchify(a.in(0), 2, 2, a.in(1)); }));
  add(refusal("unpatchify", "out shape", {zeros("tokens", {4, 12}), zeros("out", {1, 3, 4, 5})},
              [](Args& a) { ops::unpatchify(a.in(0), 1, 2, 2, 2, 2, 3, a.in(1)); }));
  add(refusal("unpatchify", "tokens shape", {zeros("tokens", {3, 65}), zeros("out", {1, 3, 4, 4})},
              [](Args& a) { ops::unpatchify(a.in(0), 1, 2, 2, 2, 2, 3, a.in(1)); }));

  // ---- rows: set_rows, get_rows, merge_rows ------------------------------------------
  struct Rows {
    int64_t R, n;
    Shape row;  // the shape of one row
  };
  auto with_rows = [](int64_t n, const Shape& row) {
    Shape s{n};
    s.insert(s.end(), row.begin(), row.end());
    return s;
  };
  for (Rows r : {Rows{1, 1, {1}}, Rows{7, 3, {3, 5}}, Rows{37, 37, {2, 3}}, Rows{40, 11, {3, 40}},
                 Rows{200, 64, {12, 128}}, Rows{9, 0, {4}}}) {
    const std::vector<int32_t> index = distinct_rows(r.R, r.n, static_cast<uint32_t>(r.R + 100 * r.n));
    add({.op = "set_rows",
         .params = "index shuffled",
         .inputs = {uniform("table", with_rows(r.R, r.row)), uniform("rows", with_rows(r.n, r.row))},
         .tol = {0},
         .run =
             [=](Args& a) -> Outputs {
               ops::set_rows(a.in(0), index, a.in(1));
               return {a.in(0)};
             },
         .reference = [=](const Args& a) -> References { return {ref::set_rows(a.host(0), index, a.host(1))}; }});
  }
  for (Rows r : {Rows{1, 3, {4}}, Rows{37, 20, {3, 5}}, Rows{200, 150, {12, 128}}, Rows{5, 0, {2, 2}}}) {
    std::vector<int32_t> index;  // repeats and -1 (zero rows) allowed
    std::mt19937 g(static_cast<uint32_t>(r.R * 13 + r.n));
    for (int64_t i = 0; i < r.n; ++i) index.push_back(g() % 5 == 0 ? -1 : static_cast<int32_t>(g() % r.R));
    add({.op = "get_rows",
         .params = "repeats and -1",
         .inputs = {uniform("table", with_rows(r.R, r.row))},
         .tol = {0},
         .run =
             [=](Args& a) -> Outputs {
               Tensor& out = a.out(0, with_rows(r.n, r.row));
               ops::get_rows(a.in(0), index, out);
               return {out};
             },
         .reference = [=](const Args& a) -> References { return {ref::get_rows(a.host(0), index)}; }});
  }
  for (Rows r : {Rows{2, 1, {3}}, Rows{5, 4, {2, 3}}, Rows{37, 40, {3, 40}}, Rows{300, 500, {12, 128}}}) {
    // Random merges (rows repeat, so chains and merges out of a merged row
    // occur), plus the chain 0 <- 1, 0 <- 2 (when there is a row 2), 1 <- 0.
    std::vector<ops::RowMerge> merges;
    std::mt19937 g(static_cast<uint32_t>(r.R * 17 + r.n));
    std::uniform_real_distribution<float> w(0.05f, 0.95f);
    for (int64_t i = 0; i < r.n; ++i) {
      const int32_t into = static_cast<int32_t>(g() % r.R);
      const int32_t from = static_cast<int32_t>((into + 1 + g() % (r.R - 1)) % r.R);
      const float wi = w(g);
      merges.push_back({into, from, wi, 1.0f - wi});
    }
    merges.push_back({0, 1, 0.25f, 0.75f});
    if (r.R > 2) merges.push_back({0, 2, 0.5f, 0.5f});
    merges.push_back({1, 0, 0.3f, 0.7f});
    add({.op = "merge_rows",
         .params = str(static_cast<int64_t>(merges.size())) + " merges with chains",
         .inputs = {uniform("table", with_rows(r.R, r.row))},
         .tol = {1e-6},
         .run =
             [=](Args& a) -> Outputs {
               ops::merge_rows(a.in(0), merges);
               return {a.in(0)};
             },
         .reference = [=](const Args& a) -> References { return {ref::merge_rows(a.host(0), merges)}; }});
  }
  add(refusal("set_rows", "index names a row twice", {zeros("table", {5, 4}), zeros("rows", {2, 4})},
              [](Args& a) { ops::set_rows(a.in(0), {1, 1}, a.in(1)); }));
  add(refusal("set_rows", "index past the table", {zeros("table", {5, 4}), zeros("rows", {2, 4})},
              [](Args& a) { ops::set_rows(a.in(0), {0, 5}, a.in(1)); }));
  add(refusal("set_rows", "index shorter than rows", {zeros("table", {5, 4}), zeros("rows", {2, 4})},
              [](Args& a) { ops::set_rows(a.in(0), {0}, a.in(1)); }));
  add(refusal("set_rows", "row shapes differ", {zeros("table", {5, 4}), zeros("rows", {2, 3})},
              [](Args& a) { ops::set_rows(a.in(0), {0, 1}, a.in(1)); }));
  add(refusal("get_rows", "index -2", {zeros("table", {5, 4}), zeros("out", {2, 4})},
              [](Args& a) { ops::get_rows(a.in(0), {0, -2}, a.in(1)); }));
  add(refusal("get_rows", "out row shape", {zeros("table", {5, 2, 3}), zeros("out", {2, 3, 2})},
              [](Args& a) { ops::get_rows(a.in(0), {0, 1}, a.in(1)); }));
  add(refusal("get_rows", "out is the table", {zeros("table", {5, 4})},
              [](Args& a) { ops::get_rows(a.in(0), {0, 1, 2, 3, 4}, a.in(0)); }));
  add(refusal("merge_rows", "a row with itself", {zeros("table", {5, 4})},
              [](Args& a) { ops::merge_rows(a.in(0), {{0, 1, 0.5f, 0.5f}, {2, 2, 0.5f, 0.5f}}); }));
  add(refusal("merge_rows", "row past the table", {zeros("table", {5, 4})},
              [](Args& a) { ops::merge_rows(a.in(0), {{0, 5, 0.5f, 0.5f}}); }));

  // ---- scores over cached keys: attention_mass, query_sums, expected_attention --------
  struct Mass {
    int64_t T, H, d, S, n, queries;
    bool bias;
  };
  for (Mass m : {Mass{1, 1, 1, 1, 1, 1, false}, Mass{7, 3, 10, 37, 20, 5, true}, Mass{33, 2, 40, 50, 50, 33, false},
                 Mass{13, 5, 18, 64, 30, 40, true}, Mass{5, 2, 6, 9, 0, 3, true},
                 Mass{300, 8, 128, 300, 300, 16, true}}) {  // the last one runs threaded on the CPU
    const std::vector<int32_t> rows = distinct_rows(m.S, m.n, static_cast<uint32_t>(m.S * 5 + m.n));
    const float scale = 1.0f / std::sqrt(static_cast<float>(m.d));
    add({.op = "attention_mass",
         .params = "rows " + str(m.n) + " queries " + str(m.queries) + (m.bias ? " bias" : ""),
         .inputs = {uniform("q", {m.T, m.H, m.d}), uniform("keys", {m.S, m.H, m.d}),
                    m.bias ? uniform("bias", {m.S}, -3.0f, 1.0f) : none("bias")},
         .tol = {.cpu = 1e-5, .cuda = 1e-4},
         .run =
             [=](Args& a) -> Outputs {
               return {floats_tensor(ops::attention_mass(a.in(0), a.in(1), rows, a.in(2), m.queries, scale))};
             },
         .reference = [=](const Args& a) -> References {
           return {ref::attention_mass(a.host(0), a.host(1), rows, a.host(2), m.queries, scale)};
         }});
  }
  add(refusal("attention_mass", "queries 0", {zeros("q", {4, 2, 8}), zeros("keys", {6, 2, 8})},
              [](Args& a) { ops::attention_mass(a.in(0), a.in(1), {0, 1}, Tensor(), 0, 1.0f); }));
  add(refusal("attention_mass", "keys head width", {zeros("q", {4, 2, 8}), zeros("keys", {6, 2, 9})},
              [](Args& a) { ops::attention_mass(a.in(0), a.in(1), {0, 1}, Tensor(), 2, 1.0f); }));
  add(refusal("attention_mass", "bias not one per key",
              {zeros("q", {4, 2, 8}), zeros("keys", {6, 2, 8}), zeros("bias", {5})},
              [](Args& a) { ops::attention_mass(a.in(0), a.in(1), {0, 1}, a.in(2), 2, 1.0f); }));
  add(refusal("attention_mass", "row past the keys", {zeros("q", {4, 2, 8}), zeros("keys", {6, 2, 8})},
              [](Args& a) { ops::attention_mass(a.in(0), a.in(1), {0, 6}, Tensor(), 2, 1.0f); }));

  for (Shape s : {Shape{1, 1}, Shape{7, 3, 10}, Shape{33, 130}, Shape{300, 12, 128}, Shape{0, 5}})
    add({.op = "query_sums",
         .inputs = {uniform("x", s, -1.0f, 3.0f)},
         .tol = {1e-6},
         .run =
             [](Args& a) -> Outputs {
               std::vector<double> sum, sum_sq;
               ops::query_sums(a.in(0), sum, sum_sq);
               return {floats_tensor(std::vector<float>(sum.begin(), sum.end())),
                       floats_tensor(std::vector<float>(sum_sq.begin(), sum_sq.end()))};
             },
         .reference = [](const Args& a) -> References { return ref::query_sums(a.host(0)); }});
  add(refusal("query_sums", "rank 0", {zeros("x", {})}, [](Args& a) {
    std::vector<double> sum, sum_sq;
    ops::query_sums(a.in(0), sum, sum_sq);
  }));

  const float no_limit = INFINITY;
  for (ExpectedCase e : {ExpectedCase{1, 1, 2, 0, 1, 1, false, false, 0, no_limit},
                         ExpectedCase{37, 3, 10, 4, 25, 3, true, true, 12, no_limit},
                         ExpectedCase{37, 3, 10, 4, 25, 3, true, true, 12, 0.5f},
                         ExpectedCase{60, 3, 40, 16, 60, 2, false, true, 30, 1.0f},
                         ExpectedCase{50, 2, 6, 6, 20, 1, true, false, 5, no_limit},
                         ExpectedCase{9, 2, 8, 2, 0, 2, false, true, 0, no_limit},
                         ExpectedCase{700, 12, 128, 44, 700, 2, true, true, 100, 2.0f}})  // threaded on the CPU
    add(expected_attention_row(e));
  {
    auto ea_refusal = [&](std::string why, int64_t offsets, int64_t dt, size_t time_floats,
                          std::vector<ops::RowPair> pairs, size_t log_counts) {
      add(refusal("expected_attention", why, {zeros("keys", {6, 2, 8}), zeros("values", {6, 2, 8})},
                  [=](Args& a) {
                    ops::ExpectedQuery q;
                    q.offsets = offsets;
                    q.dt = dt;
                    q.time.assign(time_floats, 0.0f);
                    q.space.assign(static_cast<size_t>(2 * (8 - std::clamp<int64_t>(dt, 0, 8))), 0.0f);
                    ops::expected_attention(a.in(0), a.in(1), {0, 2, 4}, std::vector<float>(log_counts, 0.0f), q,
                                            false, pairs, 1.0f);
                  }));
    };
    ea_refusal("offsets 0", 0, 2, 0, {}, 3);
    ea_refusal("time part wider than a head", 1, 9, 18, {}, 3);
    ea_refusal("time of the wrong size", 2, 2, 7, {}, 3);
    ea_refusal("pair past the rows", 1, 2, 4, {{0, 3}}, 3);
    ea_refusal("log_count of the wrong size", 1, 2, 4, {}, 2);
  }

  return t;
}

}  // namespace wl::backend_ops
