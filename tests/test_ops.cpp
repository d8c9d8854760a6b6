// The CPU ops against the float64 references in tests/support/reference_ops,
// on random odd shapes, plus the argument checks of runtime/ops.cpp.
//
// Tolerances (normalised error max|a-b| / max|b|):
//   add, gated_add, patchify, unpatchify  1e-6 (patchify/unpatchify exact)
//   layer_norm, layer_norm_modulate, rms_norm, gelu_tanh, silu  1e-5
//   rope_3d  1e-6 (float64 angles and rotation: float rounding only)
//   attention  1e-5
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "tests/support/reference_ops.h"

namespace wl {
namespace {

#define EXPECT_CLOSE(a, expected, tol, what) \
  EXPECT_LE(ref::normalised_error((a), (expected)), (tol)) << what

std::string shp(const Shape& s) { return shape_str(s); }

TEST(Ops, LayerNorm) {
  std::mt19937 g(11);
  for (int64_t rows : {1, 7, 33, 131, 300})  // 300 x 130: large enough to run threaded
    for (int64_t D : {8, 48, 72, 130})
      for (int affine = 0; affine < 3; ++affine) {
        // An offset mean checks the variance is not computed as E[x^2] - E[x]^2 in float.
        Tensor x = ref::uniform({rows, D}, g, 40.0f, 44.0f);
        Tensor w = affine >= 1 ? ref::uniform({D}, g) : Tensor();
        Tensor b = affine >= 2 ? ref::uniform({D}, g) : Tensor();
        auto want = ref::layer_norm(x, w, b, 1e-6);
        Tensor y = Tensor::empty({rows, D});
        ops::layer_norm(x, w, b, 1e-6f, y);
        EXPECT_CLOSE(y, want, 1e-5, shp(x.shape()) << " affine " << affine);
        ops::layer_norm(x, w, b, 1e-6f, x);  // in place
        EXPECT_CLOSE(x, want, 1e-5, shp(x.shape()) << " affine " << affine << " in place");
      }
}

TEST(Ops, LayerNormModulate) {
  std::mt19937 g(12);
  for (int64_t T : {1, 7, 33, 131, 300})
    for (int64_t D : {8, 72, 130})
      for (int64_t tpf : {1, 5, 131}) {
        const int64_t F = (T + tpf - 1) / tpf;
        Tensor x = ref::uniform({T, D}, g, -3.0f, 5.0f);
        Tensor mod = ref::uniform({F, 6, D}, g, -1.0f, 1.0f);
        auto want = ref::layer_norm_modulate(x, mod, 0, 1, tpf, 1e-6);
        Tensor y = Tensor::empty({T, D});
        ops::layer_norm_modulate(x, mod, 0, 1, tpf, 1e-6f, y);
        EXPECT_CLOSE(y, want, 1e-5, shp(x.shape()) << " tpf " << tpf);
        auto want2 = ref::layer_norm_modulate(x, mod, 4, 3, tpf, 1e-6);
        ops::layer_norm_modulate(x, mod, 4, 3, tpf, 1e-6f, x);
        EXPECT_CLOSE(x, want2, 1e-5, shp(x.shape()) << " tpf " << tpf << " in place");
      }
}

TEST(Ops, RmsNorm) {
  std::mt19937 g(13);
  for (int64_t rows : {1, 7, 33, 131, 300})
    for (int64_t D : {8, 48, 72, 130})
      for (bool weighted : {false, true}) {
        Tensor x = ref::uniform({rows, D}, g, -3.0f, 5.0f);
        Tensor w = weighted ? ref::uniform({D}, g) : Tensor();
        auto want = ref::rms_norm(x, w, 1e-6);
        Tensor y = Tensor::empty({rows, D});
        ops::rms_norm(x, w, 1e-6f, y);
        EXPECT_CLOSE(y, want, 1e-5, shp(x.shape()));
        ops::rms_norm(x, w, 1e-6f, x);
        EXPECT_CLOSE(x, want, 1e-5, shp(x.shape()) << " in place");
      }
  // [T, H, d] tensors normalise over d.
  Tensor x = ref::uniform({5, 3, 18}, g);
  Tensor w = ref::uniform({18}, g);
  auto want = ref::rms_norm(x, w, 1e-6);
  ops::rms_norm(x, w, 1e-6f, x);
  EXPECT_CLOSE(x, want, 1e-5, "rank 3");
}

TEST(Ops, AddAndGatedAdd) {
  std::mt19937 g(14);
  for (int64_t T : {1, 7, 33, 131, 300})
    for (int64_t D : {8, 72, 130}) {
      Tensor x = ref::uniform({T, D}, g), y = ref::uniform({T, D}, g);
      auto want = ref::add(x, y);
      ops::add(x, y);
      EXPECT_CLOSE(x, want, 1e-6, shp(x.shape()));
      for (int64_t tpf : {1, 4, 200}) {
        Tensor mod = ref::uniform({(T + tpf - 1) / tpf + 1, 3, D}, g);
        auto want2 = ref::gated_add(x, y, mod, 2, tpf);
        ops::gated_add(x, y, mod, 2, tpf);
        EXPECT_CLOSE(x, want2, 1e-6, shp(x.shape()) << " tpf " << tpf);
      }
    }
  Tensor big = ref::uniform({70001}, g), other = ref::uniform({70001}, g);  // several parallel chunks
  auto want = ref::add(big, other);
  ops::add(big, other);
  EXPECT_CLOSE(big, want, 1e-6, "70001");
}

TEST(Ops, Activations) {
  std::mt19937 g(15);
  for (auto [lo, hi] : {std::pair{-1.0f, 1.0f}, std::pair{-8.0f, 8.0f}, std::pair{-60.0f, 60.0f}})
    for (int64_t n : {1, 7, 33, 1000, 40001}) {
      Tensor x = ref::uniform({n}, g, lo, hi);
      Tensor x2 = x.clone();
      auto want = ref::gelu_tanh(x);
      ops::gelu_tanh(x);
      EXPECT_CLOSE(x, want, 1e-5, "gelu n " << n << " range " << hi);
      auto want2 = ref::silu(x2);
      ops::silu(x2);
      EXPECT_CLOSE(x2, want2, 1e-5, "silu n " << n << " range " << hi);
    }
  // Element-wise accuracy (relative, plus a tiny absolute floor for the
  // negative tails, where float rounding of the argument dominates), and the tails.
  std::vector<float> v;
  for (float e = -30.0f; e <= 30.0f; e += 0.0137f) v.push_back(e);
  for (float e : {0.0f, -0.0f, 1e-30f, -1e-30f, 100.0f, -100.0f, 1e10f, -1e10f}) v.push_back(e);
  Tensor x = Tensor::from_floats(v, {static_cast<int64_t>(v.size())});
  Tensor y = x.clone();
  auto wg = ref::gelu_tanh(x), ws = ref::silu(y);
  ops::gelu_tanh(x);
  ops::silu(y);
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_NEAR(x.f32()[i], wg[i], 5e-6 * std::abs(wg[i]) + 1e-12) << "gelu(" << v[i] << ")";
    EXPECT_NEAR(y.f32()[i], ws[i], 5e-6 * std::abs(ws[i]) + 1e-12) << "silu(" << v[i] << ")";
  }
}

TEST(Ops, Rope3d) {
  std::mt19937 g(16);
  struct Grid { int64_t frames, rows, cols; };
  for (int64_t H : {1, 2, 5})
    for (int64_t d : {2, 6, 16, 18, 64, 128})
      for (int64_t frame0 : {0, 5, 1500, 123456})
        for (Grid gr : {Grid{1, 1, 1}, Grid{2, 3, 5}, Grid{3, 4, 2}, Grid{3, 7, 9}}) {
          const int64_t T = gr.frames * gr.rows * gr.cols;
          if (T * H * d > 20000 && !(H == 5 && d == 128 && frame0 == 1500)) continue;  // one large, threaded case
          Tensor x = ref::uniform({T, H, d}, g);
          auto want = ref::rope_3d(x, frame0, gr.frames, gr.rows, gr.cols);
          ops::rope_3d(x, frame0, gr.frames, gr.rows, gr.cols);
          EXPECT_CLOSE(x, want, 1e-6,
                       "H " << H << " d " << d << " frame0 " << frame0 << " grid " << gr.frames << "x" << gr.rows
                            << "x" << gr.cols);
        }
}

struct Kv {
  Tensor k, v, bias;
};

void check_attention(std::mt19937& g, int64_t Lq, int64_t H, int64_t d, const std::vector<int64_t>& lens,
                     bool with_bias, float logit_scale, double tol) {
  std::vector<Kv> store;
  std::vector<ops::KVSegment> segs;
  for (int64_t len : lens) {
    Kv s{ref::uniform({len, H, d}, g), ref::uniform({len, H, d}, g), ref::uniform({len}, g, -3.0f, 1.0f)};
    store.push_back(s);
    segs.push_back({s.k.f32(), s.v.f32(), with_bias ? s.bias.f32() : nullptr, len});
  }
  Tensor q = ref::uniform({Lq, H, d}, g);
  const float scale = logit_scale / std::sqrt(static_cast<float>(d));
  auto want = ref::attention(q, segs, scale);
  Tensor out = Tensor::empty({Lq, H, d});
  ops::attention(q, segs, scale, out);
  std::string l;
  for (int64_t n : lens) l += std::to_string(n) + " ";
  EXPECT_CLOSE(out, want, tol,
               "Lq " << Lq << " H " << H << " d " << d << " segments " << l << "bias " << with_bias << " scale x"
                     << logit_scale);
}

TEST(Ops, Attention) {
  std::mt19937 g(17);
  const std::vector<std::vector<int64_t>> seg_sets = {
      {1}, {13}, {65, 0, 7}, {0, 130, 1, 64}, {3, 0}, {200}};
  for (int64_t Lq : {1, 7, 33, 70})
    for (int64_t H : {1, 2, 5})
      for (int64_t d : {2, 6, 16, 18, 64, 128}) {
        if (Lq * H * d > 70 * 2 * 128) continue;  // keep the float64 reference fast
        const auto& lens = seg_sets[(Lq + H + d) % seg_sets.size()];
        check_attention(g, Lq, H, d, lens, (Lq + d) % 2 == 0, 1.0f, 1e-5);
      }
  // Every segment pattern with and without bias at one shape.
  for (const auto& lens : seg_sets)
    for (bool bias : {false, true}) check_attention(g, 19, 3, 16, lens, bias, 1.0f, 1e-5);
  // Large logits: the online max must rescale correctly.
  check_attention(g, 21, 2, 64, {50, 70, 3}, true, 12.0f, 1e-5);
  // Larger query counts (the 64-row query blocks) and head width 128.
  check_attention(g, 300, 4, 64, {150, 0, 90}, true, 1.0f, 1e-5);
  check_attention(g, 131, 3, 128, {257}, false, 1.0f, 1e-5);
}

TEST(Ops, PatchifyUnpatchify) {
  std::mt19937 g(18);
  struct Case { int64_t F, C, h, w; int ph, pw; };
  for (Case c : {Case{1, 1, 1, 1, 1, 1}, Case{2, 3, 2, 5, 2, 2}, Case{3, 16, 3, 4, 2, 2}, Case{1, 5, 2, 3, 1, 3}, Case{3, 16, 16, 16, 2, 2}}) {
    Tensor x = ref::uniform({c.F, c.C, c.h * c.ph, c.w * c.pw}, g);
    Tensor p = Tensor::empty({c.F * c.h * c.w, c.C * c.ph * c.pw});
    ops::patchify(x, c.ph, c.pw, p);
    EXPECT_EQ(ref::normalised_error(p, ref::patchify(x, c.ph, c.pw)), 0.0) << shp(x.shape());
    Tensor t = ref::uniform({c.F * c.h * c.w, c.ph * c.pw * c.C}, g);
    Tensor o = Tensor::empty({c.F, c.C, c.h * c.ph, c.w * c.pw});
    ops::unpatchify(t, c.F, c.h, c.w, c.ph, c.pw, c.C, o);
    EXPECT_EQ(ref::normalised_error(o, ref::unpatchify(t, c.F, c.h, c.w, c.ph, c.pw, c.C)), 0.0) << shp(t.shape());
  }
}

// Runs f, expects a wl::Error whose message contains `op`.
template <class F>
void expect_error(const std::string& op, F&& f) {
  try {
    f();
    ADD_FAILURE() << op << ": no error thrown";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
  }
}

TEST(Ops, BadArgumentsThrow) {
  Tensor a = Tensor::zeros({3, 64}), b = Tensor::zeros({3, 65}), w = Tensor::zeros({65});
  Tensor mod = Tensor::zeros({1, 6, 64}), mod65 = Tensor::zeros({1, 6, 65});
  expect_error("layer_norm", [&] { ops::layer_norm(a, Tensor(), Tensor(), 1e-6f, b); });
  expect_error("layer_norm", [&] { ops::layer_norm(a, w, Tensor(), 1e-6f, a); });
  expect_error("layer_norm", [&] { ops::layer_norm(a.to(DType::BF16), Tensor(), Tensor(), 1e-6f, a); });
  expect_error("layer_norm_modulate", [&] { ops::layer_norm_modulate(a, mod65, 0, 1, 3, 1e-6f, a); });
  expect_error("layer_norm_modulate", [&] { ops::layer_norm_modulate(a, mod, 0, 6, 3, 1e-6f, a); });
  expect_error("layer_norm_modulate", [&] { ops::layer_norm_modulate(a, mod, 0, 1, 2, 1e-6f, a); });  // 2 frames
  expect_error("layer_norm_modulate", [&] { ops::layer_norm_modulate(a, mod, 0, 1, 0, 1e-6f, a); });
  expect_error("rms_norm", [&] { ops::rms_norm(a, w, 1e-6f, a); });
  expect_error("gated_add", [&] { ops::gated_add(a, b, mod, 0, 3); });
  expect_error("gated_add", [&] { ops::gated_add(a, a, mod, -1, 3); });
  expect_error("add", [&] { ops::add(a, b); });
  expect_error("gelu_tanh", [&] { Tensor h = a.to(DType::F16); ops::gelu_tanh(h); });
  expect_error("silu", [&] { Tensor h = a.to(DType::BF16); ops::silu(h); });
  Tensor x = Tensor::zeros({6, 2, 16});
  expect_error("rope_3d", [&] { ops::rope_3d(x, 0, 1, 2, 2); });
  expect_error("rope_3d", [&] { ops::rope_3d(x, -1, 1, 2, 3); });
  expect_error("rope_3d", [&] { ops::rope_3d(a, 0, 1, 1, 3); });
  Tensor odd = Tensor::zeros({6, 2, 15});
  expect_error("rope_3d", [&] { ops::rope_3d(odd, 0, 1, 2, 3); });
  Tensor k = Tensor::zeros({4, 2, 16});
  Tensor out = Tensor::zeros({6, 2, 16}), out_bad = Tensor::zeros({6, 2, 17});
  expect_error("attention", [&] { ops::attention(x, {{k.f32(), k.f32(), nullptr, 4}}, 1.0f, out_bad); });
  expect_error("attention", [&] { ops::attention(x, {}, 1.0f, out); });
  expect_error("attention", [&] { ops::attention(x, {{nullptr, nullptr, nullptr, 3}}, 1.0f, out); });
  expect_error("attention", [&] { ops::attention(a, {{k.f32(), k.f32(), nullptr, 4}}, 1.0f, a); });
  Tensor img = Tensor::zeros({1, 3, 4, 5}), pt = Tensor::zeros({4, 12});
  expect_error("patchify", [&] { ops::patchify(img, 2, 2, pt); });
  Tensor img2 = Tensor::zeros({1, 3, 4, 4});
  expect_error("patchify", [&] { ops::patchify(img2, 2, 2, b); });
  expect_error("unpatchify", [&] { ops::unpatchify(pt, 1, 2, 2, 2, 2, 3, img); });
  expect_error("unpatchify", [&] { ops::unpatchify(b, 1, 2, 2, 2, 2, 3, img2); });
  ops::LinearWeight lw;
  lw.weight = Tensor::zeros({65, 64});
  expect_error("linear", [&] { ops::linear(b, lw, a); });
  expect_error("prepare_linear", [&] { ops::prepare_linear(a, w, ops::MatmulPrecision::F32); });
  // A CUDA tensor: the CUDA backend is not built.
  Tensor cu = Tensor::view(a.raw(), a.shape(), DType::F32, nullptr, Backend::CUDA);
  expect_error("add", [&] { ops::add(cu, cu); });
  expect_error("add", [&] { ops::add(a, cu); });
}

TEST(Ops, PrecisionName) {
  EXPECT_STREQ(ops::precision_name(ops::MatmulPrecision::F32), "F32");
  EXPECT_STREQ(ops::precision_name(ops::MatmulPrecision::BF16), "BF16");
}

}  // namespace
}  // namespace wl
