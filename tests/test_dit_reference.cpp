// The engine's causal DiT against an independent float64 reference
// (tests/support/reference_dit.*), itself validated on the golden fixtures,
// over whole chunk-wise generations on configurations the fixtures do not
// cover: other head counts and widths, non-square latents, frame-wise chunks,
// eviction with and without sink, frames past 1024, bf16/f16 checkpoints,
// wrapped checkpoint names and the bf16 product mode.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cache/kv_store.h"
#include "runtime/core/error.h"
#include "runtime/model/causal_dit.h"
#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"
#include "tests/support/random_checkpoint.h"
#include "tests/support/reference_dit.h"

namespace {

using wl::testref::RandomCheckpointSpec;
using wl::testref::RefDit;

std::string data_path(const std::string& name) { return std::string(WL_TEST_DATA_DIR) + "/" + name; }

std::vector<double> to_doubles(const wl::Tensor& t) {
  const std::vector<float> f = t.to_floats();
  return std::vector<double>(f.begin(), f.end());
}

// ---- the reference against the golden fixtures -----------------------------

void check_reference_on_golden(const std::string& name) {
  const wl::SafetensorsFile weights = wl::SafetensorsFile::open(data_path(name + ".weights.safetensors"));
  const wl::SafetensorsFile cs = wl::SafetensorsFile::open(data_path(name + ".case.safetensors"));
  auto rw = wl::testref::read_ref_weights(weights);
  const auto rc = wl::testref::ref_config(weights, rw);
  RefDit ref(rc, std::move(rw));
  const auto& md = cs.metadata();
  const int64_t calls = std::stoll(md.at("calls"));
  const int64_t capacity = std::stoll(md.at("cache_frames"));
  const int64_t sink = std::stoll(md.at("sink_frames"));
  const wl::Tensor ctx = cs.get_f32("context");
  ref.set_prompt(to_doubles(ctx), ctx.dim(0));
  const wl::Tensor x0 = cs.get_f32("call.0.x");
  const int64_t H = x0.dim(2), W = x0.dim(3);
  ref.reset_cache(capacity, sink, wl::testref::ref_max_attention_tokens(rc, H, W));
  double worst = 0;
  for (int64_t i = 0; i < calls; ++i) {
    const std::string p = "call." + std::to_string(i) + ".";
    const wl::Tensor x = cs.get_f32(p + "x");
    const std::vector<double> t = to_doubles(cs.get_f32(p + "t"));
    const int64_t start = static_cast<int64_t>(std::lround(cs.get_f32(p + "start_frame").to_floats().at(0)));
    const std::vector<double> flow = to_doubles(cs.get_f32(p + "flow"));
    const std::vector<double> out = ref.forward(to_doubles(x), x.dim(0), H, W, t, start);
    const double err = wl::testref::rel_l2(out, flow);
    worst = std::max(worst, err);
    EXPECT_LE(err, 1e-6) << name << " call " << i << " (start frame " << start << ")";
  }
  std::printf("[ reference ] %s: %lld calls, max rel L2 vs golden %.3g\n", name.c_str(),
              static_cast<long long>(calls), worst);
}

TEST(RefDit, MatchesGoldenChunk3) { check_reference_on_golden("chunk3"); }
TEST(RefDit, MatchesGoldenSinkWindow) { check_reference_on_golden("sink_window"); }

// ---- the engine against the reference ----------------------------------------

struct Schedule {
  int64_t height = 8, width = 8;
  int64_t chunk = 3;        // frames per chunk
  int64_t chunks = 3;       // chunks generated
  int64_t start_frame = 0;  // absolute frame of the first chunk
  int64_t capacity = 9;     // cache frames
  int64_t sink = 0;         // sink frames
  std::vector<int> steps = {1000, 750, 500, 250};
  double shift = 5.0;
  bool per_frame_t = false;          // give each frame of a call its own timestep
  int64_t override_attention = 0;    // > 0: replace cache_config's max_attention_tokens
  int64_t context_rows = 5;          // prompt rows (<= text_len)
  int64_t switch_prompt_at = -1;     // chunk before which a new prompt (other rows) is set
};

struct Case {
  std::string name;
  RandomCheckpointSpec ckpt;
  Schedule sched;
  std::string ref_prefix;  // the copy the engine must load
  wl::ops::MatmulPrecision precision = wl::ops::MatmulPrecision::F32;
  double tol = 1e-4;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

std::string temp_file(const std::string& stem) {
  return ::testing::TempDir() + "wl_dit_reference_" + stem + "_" + std::to_string(::getpid()) + ".safetensors";
}

// Warped timestep of a step value (docs/model.md §4): sigma = step / 1000 from the
// linspace table, sigma' = shift*sigma / (1 + (shift-1)*sigma), t = 1000*sigma'.
double timestep(int step, double shift) {
  const double sigma = 1.0 - static_cast<double>(1000 - step) / 1000.0;
  return 1000.0 * shift * sigma / (1.0 + (shift - 1.0) * sigma);
}

class DitReferenceTest : public ::testing::TestWithParam<Case> {};

TEST_P(DitReferenceTest, MatchesReferenceOverGeneration) {
  const Case& c = GetParam();
  const std::string path = temp_file(c.name);
  wl::testref::write_random_checkpoint(path, c.ckpt);

  const wl::WeightMap weights = wl::WeightMap::open(path);
  wl::DitOptions options;
  options.precision = c.precision;
  wl::CausalDit dit(weights, options);

  // The reference reads the raw file itself and picks its copy by prefix.
  auto rw = wl::testref::read_ref_weights(weights.file(), c.ref_prefix);
  ASSERT_FALSE(rw.empty());
  const auto rc = wl::testref::ref_config(weights.file(), rw);
  RefDit ref(rc, std::move(rw));
  EXPECT_EQ(dit.config().dim, rc.dim);
  EXPECT_EQ(dit.config().num_heads, rc.num_heads);
  EXPECT_EQ(dit.config().num_layers, rc.num_layers);
  EXPECT_EQ(dit.config().ffn_dim, rc.ffn_dim);
  EXPECT_EQ(dit.config().text_len, rc.text_len);
  EXPECT_EQ(dit.config().in_dim, rc.in_dim);
  EXPECT_EQ(dit.config().out_dim, rc.out_dim);
  EXPECT_EQ(dit.config().patch_h, rc.patch_h);
  EXPECT_EQ(dit.config().patch_w, rc.patch_w);

  const Schedule& s = c.sched;
  wl::cache::KvStoreConfig kc = dit.cache_config(s.height, s.width, s.capacity, s.sink);
  EXPECT_EQ(kc.max_attention_tokens, wl::testref::ref_max_attention_tokens(rc, s.height, s.width))
      << "cache_config's attention window differs from the reference rule";
  if (s.override_attention > 0) kc.max_attention_tokens = s.override_attention;
  wl::cache::KvStore cache(kc, wl::cache::make_policy("full"));
  ref.reset_cache(s.capacity, s.sink, kc.max_attention_tokens);

  std::mt19937_64 rng(c.ckpt.seed * 7919 + 17);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto noise = [&](int64_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = normal(rng);
    return v;
  };

  const int64_t text_dim = rc.text_dim;
  const std::vector<float> ctx = noise(s.context_rows * text_dim);
  dit.set_prompt(wl::Tensor::from_floats(ctx, {s.context_rows, text_dim}));
  ref.set_prompt(std::vector<double>(ctx.begin(), ctx.end()), s.context_rows);

  const int64_t C = rc.in_dim;
  const int64_t frame_elems = C * s.height * s.width;
  double worst = 0;
  int64_t call = 0;
  auto run_call = [&](const std::vector<float>& x, const std::vector<float>& t, int64_t start) {
    const int64_t f = static_cast<int64_t>(t.size());
    const wl::Tensor out = dit.forward(wl::Tensor::from_floats(x, {f, C, s.height, s.width}), t, start, cache);
    EXPECT_EQ(out.shape(), (wl::Shape{f, rc.out_dim, s.height, s.width}));
    const std::vector<double> got = to_doubles(out);
    const std::vector<double> want = ref.forward(std::vector<double>(x.begin(), x.end()), f, s.height, s.width,
                                                 std::vector<double>(t.begin(), t.end()), start);
    const double err = wl::testref::rel_l2(got, want);
    worst = std::max(worst, err);
    EXPECT_LE(err, c.tol) << c.name << ": call " << call << " frames [" << start << ", " << start + f << ") t[0] "
                          << t[0];
    EXPECT_EQ(cache.frames(), ref.cached_frames()) << c.name << ": call " << call;
    ++call;
    return want;
  };

  for (int64_t k = 0; k < s.chunks; ++k) {
    const int64_t start = s.start_frame + k * s.chunk;
    if (k == s.switch_prompt_at) {
      const int64_t rows = std::min<int64_t>(rc.text_len, s.context_rows + 2);
      const std::vector<float> ctx2 = noise(rows * text_dim);
      dit.set_prompt(wl::Tensor::from_floats(ctx2, {rows, text_dim}));
      ref.set_prompt(std::vector<double>(ctx2.begin(), ctx2.end()), rows);
    }
    std::vector<float> x = noise(s.chunk * frame_elems);
    std::vector<float> x0(x.size());
    for (size_t st = 0; st < s.steps.size(); ++st) {
      std::vector<float> t(s.chunk);
      for (int64_t f = 0; f < s.chunk; ++f) {
        double tv = timestep(s.steps[st], s.shift);
        if (s.per_frame_t) tv = std::max(0.0, tv - 37.25 * static_cast<double>(f));
        t[f] = static_cast<float>(tv);
      }
      const std::vector<double> v = run_call(x, t, start);
      // x0 = x - sigma*v, then re-noise to the next level with fresh noise.
      for (int64_t f = 0; f < s.chunk; ++f) {
        const double sigma = t[f] / 1000.0;
        for (int64_t i = 0; i < frame_elems; ++i) {
          const int64_t j = f * frame_elems + i;
          x0[j] = static_cast<float>(x[j] - sigma * v[j]);
        }
      }
      if (st + 1 < s.steps.size()) {
        const double sn = timestep(s.steps[st + 1], s.shift) / 1000.0;
        const std::vector<float> eps = noise(x.size());
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((1.0 - sn) * x0[i] + sn * eps[i]);
      }
    }
    run_call(x0, std::vector<float>(s.chunk, 0.f), start);  // the clean pass
  }
  std::printf("[ dit-ref   ] %-28s %3lld calls, max rel L2 %.3g\n", c.name.c_str(), static_cast<long long>(call),
              worst);
  // bf16 products round to 8 bits: an error at f32's level (1e-7 here) means
  // the bf16 path did not run, which the upper bound alone would let pass.
  if (c.precision == wl::ops::MatmulPrecision::BF16) {
    EXPECT_GT(worst, 1e-4) << c.name << ": bf16 products asked for, but the error is at f32 level";
  }
  std::remove(path.c_str());
}

Case make(const std::string& name, void (*tweak)(Case&)) {
  Case c;
  c.name = name;
  c.ckpt.seed = std::hash<std::string>{}(name) % 100000 + 1;
  tweak(c);
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back(make("heads2_hd16", [](Case& c) {
    c.ckpt.dim = 32, c.ckpt.num_heads = 2, c.ckpt.ffn_dim = 64;
  }));
  v.push_back(make("heads3_hd24_2steps", [](Case& c) {
    c.ckpt.dim = 72, c.ckpt.num_heads = 3, c.ckpt.ffn_dim = 96;
    c.sched.chunk = 2, c.sched.chunks = 3, c.sched.capacity = 6, c.sched.steps = {1000, 500};
  }));
  v.push_back(make("heads2_hd20_uneven_rope", [](Case& c) {
    c.ckpt.dim = 40, c.ckpt.num_heads = 2, c.ckpt.ffn_dim = 80, c.ckpt.num_layers = 3;
    c.sched.steps = {1000, 750, 500};
  }));
  v.push_back(make("hd128_heads1", [](Case& c) {
    c.ckpt.dim = 128, c.ckpt.num_heads = 1, c.ckpt.ffn_dim = 128, c.ckpt.num_layers = 1;
    c.sched.chunk = 2, c.sched.chunks = 2, c.sched.capacity = 4, c.sched.steps = {1000, 750, 500};
  }));
  v.push_back(make("hd128_derived_no_metadata", [](Case& c) {
    c.ckpt.dim = 256, c.ckpt.num_heads = 2, c.ckpt.ffn_dim = 128, c.ckpt.num_layers = 1;
    c.ckpt.write_config = false, c.ckpt.text_len = 512;  // Wan's default text_len without metadata
    c.sched.chunk = 2, c.sched.chunks = 2, c.sched.capacity = 4, c.sched.steps = {1000, 500};
  }));
  v.push_back(make("framewise_evict_cap5_sink1", [](Case& c) {
    c.sched.chunk = 1, c.sched.chunks = 8, c.sched.capacity = 5, c.sched.sink = 1, c.sched.steps = {1000, 750, 500};
  }));
  v.push_back(make("nonsquare_6x10", [](Case& c) {
    c.sched.height = 6, c.sched.width = 10, c.sched.chunk = 2, c.sched.chunks = 3, c.sched.capacity = 6;
    c.sched.steps = {1000, 500};
  }));
  v.push_back(make("nonsquare_patch1x2_4x6", [](Case& c) {
    c.ckpt.patch_h = 1, c.ckpt.patch_w = 2, c.ckpt.in_dim = 3, c.ckpt.out_dim = 5;
    c.sched.height = 4, c.sched.width = 6, c.sched.chunk = 2, c.sched.chunks = 3, c.sched.capacity = 4,
    c.sched.sink = 1, c.sched.steps = {1000, 750, 500};
  }));
  v.push_back(make("evict_cap6_sink2_chunk2", [](Case& c) {
    c.sched.chunk = 2, c.sched.chunks = 5, c.sched.capacity = 6, c.sched.sink = 2, c.sched.steps = {1000, 750, 500};
  }));
  v.push_back(make("evict_cap4_nosink_chunk2", [](Case& c) {
    c.sched.chunk = 2, c.sched.chunks = 4, c.sched.capacity = 4, c.sched.sink = 0, c.sched.steps = {1000, 500};
  }));
  // Frames past 1024 (the reference's RoPE table size): the engine must not cap.
  v.push_back(make("start_1030_nosink", [](Case& c) {
    c.sched.start_frame = 1030, c.sched.chunk = 3, c.sched.chunks = 3, c.sched.capacity = 6, c.sched.sink = 0;
    c.sched.steps = {1000, 500};
  }));
  v.push_back(make("crossing_1024_framewise_nosink", [](Case& c) {
    c.sched.start_frame = 1019, c.sched.chunk = 1, c.sched.chunks = 9, c.sched.capacity = 3, c.sched.sink = 0;
    c.sched.steps = {1000, 500};
  }));
  v.push_back(make("long_run_0_to_1036_sink4", [](Case& c) {
    c.ckpt.dim = 32, c.ckpt.num_heads = 2, c.ckpt.ffn_dim = 32, c.ckpt.num_layers = 1;
    c.sched.height = 4, c.sched.width = 4, c.sched.chunk = 4, c.sched.chunks = 259, c.sched.capacity = 8,
    c.sched.sink = 4, c.sched.steps = {1000};
  }));
  // A generation that starts past frame 0 with a sink: the sink is the first
  // frames ever cached (docs/model.md §3, cache/kv_store.h), not absolute frames 0..S-1.
  v.push_back(make("start_1030_sink3", [](Case& c) {
    c.sched.start_frame = 1030, c.sched.chunk = 3, c.sched.chunks = 3, c.sched.capacity = 6, c.sched.sink = 3;
    c.sched.steps = {1000, 500};
  }));
  v.push_back(make("crossing_1024_framewise_sink1", [](Case& c) {
    c.sched.start_frame = 1019, c.sched.chunk = 1, c.sched.chunks = 9, c.sched.capacity = 4, c.sched.sink = 1;
    c.sched.steps = {1000, 500};
  }));
  v.push_back(make("per_frame_timesteps", [](Case& c) {
    c.sched.per_frame_t = true, c.sched.steps = {1000, 750, 500};
  }));
  v.push_back(make("prompt_switch_full_text_len", [](Case& c) {
    c.sched.chunk = 2, c.sched.chunks = 4, c.sched.capacity = 6, c.sched.sink = 2, c.sched.steps = {1000, 500};
    c.sched.context_rows = 14, c.sched.switch_prompt_at = 2;  // the new prompt fills all 16 rows
  }));
  v.push_back(make("local_window_3_frames", [](Case& c) {
    c.ckpt.local_attn_size = 3, c.ckpt.sink_size = 1;
    c.sched.chunk = 2, c.sched.chunks = 4, c.sched.capacity = 5, c.sched.sink = 1, c.sched.steps = {1000, 500};
  }));
  v.push_back(make("window_cuts_inside_frame", [](Case& c) {
    c.sched.chunk = 2, c.sched.chunks = 4, c.sched.capacity = 6, c.sched.sink = 2, c.sched.steps = {1000, 500};
    c.sched.override_attention = 16 * 3 + 7;  // 3 frames and 7 tokens of 16-token frames
  }));
  v.push_back(make("bf16_checkpoint", [](Case& c) {
    c.ckpt.dtype = wl::DType::BF16;
    c.sched.chunk = 2, c.sched.chunks = 3, c.sched.capacity = 4, c.sched.sink = 1, c.sched.steps = {1000, 750, 500};
  }));
  v.push_back(make("f16_checkpoint", [](Case& c) {
    c.ckpt.dtype = wl::DType::F16, c.ckpt.dim = 48, c.ckpt.num_heads = 3;
    c.sched.steps = {1000, 500};
  }));
  v.push_back(make("prefix_model_generator_ema", [](Case& c) {
    c.ckpt.prefixes = {"model.generator.", "model.generator_ema."};
    c.ref_prefix = "model.generator_ema.";
    c.sched.steps = {1000, 500};
  }));
  v.push_back(make("prefix_generator_ema_model", [](Case& c) {
    c.ckpt.prefixes = {"generator_ema.model.", "generator.model."};
    c.ref_prefix = "generator_ema.model.";
    c.sched.steps = {1000, 500};
  }));
  v.push_back(make("prefix_model_bf16", [](Case& c) {
    c.ckpt.prefixes = {"model."}, c.ckpt.dtype = wl::DType::BF16;
    c.ref_prefix = "model.";
    c.sched.chunk = 1, c.sched.chunks = 4, c.sched.capacity = 3, c.sched.sink = 1, c.sched.steps = {1000, 500};
  }));
  v.push_back(make("bf16_product_mode", [](Case& c) {
    c.precision = wl::ops::MatmulPrecision::BF16, c.tol = 2e-2;
    c.sched.chunk = 2, c.sched.chunks = 4, c.sched.capacity = 6, c.sched.sink = 2, c.sched.steps = {1000, 750, 500};
  }));
  v.push_back(make("bf16_product_mode_hd128", [](Case& c) {
    c.precision = wl::ops::MatmulPrecision::BF16, c.tol = 2e-2;
    c.ckpt.dim = 256, c.ckpt.num_heads = 2, c.ckpt.ffn_dim = 256, c.ckpt.num_layers = 2, c.ckpt.dtype = wl::DType::BF16;
    c.sched.chunk = 2, c.sched.chunks = 2, c.sched.capacity = 4, c.sched.steps = {1000, 500};
  }));
  return v;
}

INSTANTIATE_TEST_SUITE_P(DitReference, DitReferenceTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// ---- loader errors ---------------------------------------------------------------

void expect_ctor_error(const RandomCheckpointSpec& spec, const std::string& stem, const std::string& tensor) {
  const std::string path = temp_file(stem);
  wl::testref::write_random_checkpoint(path, spec);
  try {
    const wl::WeightMap weights = wl::WeightMap::open(path);
    wl::DitOptions options;
    options.precision = wl::ops::MatmulPrecision::F32;
    wl::CausalDit dit(weights, options);
    ADD_FAILURE() << "CausalDit accepted " << stem;
  } catch (const wl::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(tensor), std::string::npos) << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a wl::Error: " << e.what();
  }
  std::remove(path.c_str());
}

TEST(DitReferenceErrors, TransposedTensorThrowsNamingFileAndTensor) {
  RandomCheckpointSpec spec;
  spec.transpose_tensor = "blocks.1.ffn.0.weight";
  expect_ctor_error(spec, "transposed", "blocks.1.ffn.0.weight");
}

TEST(DitReferenceErrors, MissingTensorThrowsNamingFileAndTensor) {
  RandomCheckpointSpec spec;
  spec.omit_tensor = "blocks.1.cross_attn.norm_k.weight";
  expect_ctor_error(spec, "missing", "blocks.1.cross_attn.norm_k.weight");
}

TEST(DitReferenceErrors, WrongShapeUnderPrefixThrows) {
  RandomCheckpointSpec spec;
  spec.prefixes = {"model.generator_ema."};
  spec.transpose_tensor = "blocks.1.ffn.2.weight";
  expect_ctor_error(spec, "prefixed_wrong", "blocks.1.ffn.2.weight");
}

// A transposed tensor that the configuration is read from (freq_dim comes
// from time_embedding.0.weight) must still be named in the error.
TEST(DitReferenceErrors, TransposedConfigTensorNamesTensor) {
  RandomCheckpointSpec spec;
  spec.transpose_tensor = "time_embedding.0.weight";
  expect_ctor_error(spec, "transposed_config", "time_embedding.0.weight");
}

}  // namespace
