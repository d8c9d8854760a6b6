// Matrix-Game 2.0's frame bookkeeping (runtime/model/mg2_windows.h) against the
// rules of specs/text_action_checkpoints.md §2.3-§2.5, and its action module
// (runtime/model/mg2_action_module.h) against the golden fixture's block-0
// action module input and output (tests/data/mg2_universal.*, issue 23).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/core/weight_map.h"
#include "runtime/model/mg2_action_module.h"
#include "runtime/model/mg2_windows.h"
#include "tests/support/golden.h"

namespace wl {
namespace {

const std::string kWeights = test::data_path("mg2_universal.weights.safetensors");
const std::string kCase = test::data_path("mg2_universal.case.safetensors");

TEST(Mg2Windows, ActionRowsEndJustBeforeTheLatentFramesFirstPixelFrame) {
  const mg2::ActionWindow w;  // 4 pixel frames per latent, 3 latents of history
  EXPECT_EQ(w.rows(), 12);
  // Latent 0 and 1 are clamped to pixel frame 0 (the reference left-pads with row 0).
  EXPECT_EQ(mg2::action_rows(w, 0), std::vector<int64_t>(12, 0));
  std::vector<int64_t> f1(12, 0);
  f1[9] = 1, f1[10] = 2, f1[11] = 3;  // 4*1 - 12 + j
  EXPECT_EQ(mg2::action_rows(w, 1), f1);
  // Latent 5: pixel frames 8..19, ending just before 20 = 4*5.
  const std::vector<int64_t> f5 = mg2::action_rows(w, 5);
  for (int64_t j = 0; j < 12; ++j) EXPECT_EQ(f5[static_cast<size_t>(j)], 8 + j);
  // Other window shapes follow the same rule.
  const mg2::ActionWindow w2{2, 2};
  EXPECT_EQ(mg2::action_rows(w2, 3), (std::vector<int64_t>{2, 3, 4, 5}));
}

TEST(Mg2Windows, CallsAreHandedEveryPixelFrameUpToTheChunksLast) {
  const mg2::ActionWindow w;
  EXPECT_EQ(mg2::pixel_frames_of(w, 1), 1);
  EXPECT_EQ(mg2::pixel_frames_of(w, 6), 21);  // the fixture's 6 latents -> 21 pixel frames
  EXPECT_EQ(mg2::rows_for_call(w, 0, 3), 9);
  EXPECT_EQ(mg2::rows_for_call(w, 3, 3), 21);
  // No row the module reads lies at or beyond the rows a call is handed.
  for (int64_t s = 0; s < 30; s += 3)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t r : mg2::action_rows(w, s + i)) EXPECT_LT(r, mg2::rows_for_call(w, s, 3));
}

TEST(Mg2Windows, AttendedFramesMatchTheSpecsExamples) {
  // §2.5: T=3, W=6 -> 0-2, 0-5, 3-8; W=4 -> 0-2, 2-5, 5-8.
  const int64_t w6[3][2] = {{0, 3}, {0, 6}, {3, 9}}, w4[3][2] = {{0, 3}, {2, 6}, {5, 9}};
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(mg2::attended_frames(3 * k, 3, 6).begin, w6[k][0]);
    EXPECT_EQ(mg2::attended_frames(3 * k, 3, 6).end, w6[k][1]);
    EXPECT_EQ(mg2::attended_frames(3 * k, 3, 4).begin, w4[k][0]);
    EXPECT_EQ(mg2::attended_frames(3 * k, 3, 4).end, w4[k][1]);
  }
}

struct Fixture {
  WeightMap weights = WeightMap::open(kWeights);
  SafetensorsFile cs = SafetensorsFile::open(kCase);
  Mg2ActionConfig config = parse_mg2_action_config(weights.metadata().at("config"), kWeights);
};

double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

TEST(Mg2Action, ConfigComesFromTheModelConfig) {
  Fixture f;
  EXPECT_EQ(f.config.dim, 64);
  EXPECT_EQ(f.config.keyboard_dim_in, 4);
  EXPECT_EQ(f.config.keyboard_hidden, 16);
  EXPECT_EQ(f.config.attn_width, 128);
  EXPECT_EQ(f.config.heads(), 2);
  EXPECT_TRUE(f.config.enable_mouse);
  EXPECT_EQ(f.config.local_attn_size, 6);
  EXPECT_EQ(f.config.window.rows(), 12);
  EXPECT_EQ(f.config.rope_time_dims, 8);
}

// Block 0's action module on the first call (frames 0-2, empty caches): the
// fixture's input gives the fixture's output.
TEST(Mg2Action, BlockZeroReproducesTheFixtureOnTheFirstCall) {
  Fixture f;
  const Mg2ActionModule module(f.weights, "blocks.0.action_model.", f.config);
  const int64_t start = static_cast<int64_t>(f.cs.get_f32("call.0.start_frame").to_floats()[0]);
  const int64_t rows = static_cast<int64_t>(f.cs.get_f32("call.0.action_rows").to_floats()[0]);
  ASSERT_EQ(start, 0);
  ASSERT_EQ(rows, mg2::rows_for_call(f.config.window, start, 3));
  const std::vector<float> kb_all = f.cs.get_f32("keyboard").to_floats(), ms_all = f.cs.get_f32("mouse").to_floats();
  const Tensor kb = Tensor::from_floats(std::vector<float>(kb_all.begin(), kb_all.begin() + rows * 4), {rows, 4});
  const Tensor ms = Tensor::from_floats(std::vector<float>(ms_all.begin(), ms_all.begin() + rows * 2), {rows, 2});
  Tensor x = Tensor::from_floats(f.cs.get_f32("debug.call.0.block.0.action_in").to_floats(), {18, 64});
  Mg2ActionCache cache;
  module.forward(x, start, 3, 6, kb, ms, cache);
  const std::vector<float> want = f.cs.get_f32("debug.call.0.block.0.action_out").to_floats();
  EXPECT_LT(max_abs(x.to_floats(), want), 2e-6) << "max abs " << max_abs(x.to_floats(), want);
  // The module changed x (the fixture's output differs from its input).
  EXPECT_GT(max_abs(f.cs.get_f32("debug.call.0.block.0.action_in").to_floats(), want), 1e-3);
  EXPECT_EQ(cache.keyboard.size(), 3u);
  EXPECT_EQ(cache.mouse.size(), 3u);
}

TEST(Mg2Action, TheNormWeightsAreReadButNeverApplied) {
  // Scaling the four *_norm weights must not change the output (the
  // reference's per-head RMS norm ignores its weight).
  Fixture f;
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : f.weights.names()) {
    Tensor t = Tensor::from_floats(f.weights.get(n).to_floats(), f.weights.get(n).shape());
    if (n.find("_norm.weight") != std::string::npos && n.find("action_model") != std::string::npos)
      for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] *= 3.0f;
    tensors.emplace_back(n, t);
  }
  const std::string path = test::temp_dir() + "/scaled_norms.safetensors";
  write_safetensors(path, tensors, f.weights.metadata());
  const WeightMap scaled = WeightMap::open(path);
  const std::vector<float> in = f.cs.get_f32("debug.call.0.block.0.action_in").to_floats();
  const std::vector<float> kb_all = f.cs.get_f32("keyboard").to_floats(), ms_all = f.cs.get_f32("mouse").to_floats();
  const Tensor kb = Tensor::from_floats(std::vector<float>(kb_all.begin(), kb_all.begin() + 36), {9, 4});
  const Tensor ms = Tensor::from_floats(std::vector<float>(ms_all.begin(), ms_all.begin() + 18), {9, 2});
  Tensor a = Tensor::from_floats(in, {18, 64}), b = Tensor::from_floats(in, {18, 64});
  Mg2ActionCache ca, cb;
  Mg2ActionModule(f.weights, "blocks.0.action_model.", f.config).forward(a, 0, 3, 6, kb, ms, ca);
  Mg2ActionModule(scaled, "blocks.0.action_model.", f.config).forward(b, 0, 3, 6, kb, ms, cb);
  EXPECT_EQ(a.to_floats(), b.to_floats());
}

TEST(Mg2Action, BadInputsGetNamedErrors) {
  Fixture f;
  const Mg2ActionModule module(f.weights, "blocks.0.action_model.", f.config);
  Tensor x = Tensor::zeros({18, 64});
  Mg2ActionCache cache;
  try {
    module.forward(x, 3, 3, 6, Tensor::zeros({9, 4}), Tensor::zeros({9, 2}), cache);  // frames 3-5 need 21 rows
    FAIL() << "too few action rows accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("keyboard rows"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("21"), std::string::npos) << e.what();
  }
  Mg2ActionConfig no_mouse = f.config;
  no_mouse.enable_mouse = false;
  try {
    Mg2ActionModule bad(f.weights, "blocks.0.action_model.", no_mouse);
    FAIL() << "enable_mouse=false accepted with t_qkv present";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t_qkv"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mg2_universal.weights"), std::string::npos) << e.what();
  }
  try {
    Mg2ActionModule bad(f.weights, "blocks.2.action_model.", f.config);  // block 2 has no action module
    FAIL() << "a block without an action module was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.2.action_model."), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_mg2_action_config("{\"dim\": 64}", "cfg.json"), Error);
}


// MG2 publishes base_distill.safetensors with `model.` names and no config
// inside; the config is a separate config.json. The fixture's weights in that
// layout replay the fixture as well as with the config in the metadata.
TEST(Mg2PublishedLayout, WeightsWithASeparateConfigJsonReplayTheFixture) {
  const WeightMap fixture = WeightMap::open(kWeights);
  const std::string dir = test::temp_dir();
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : fixture.names()) tensors.emplace_back("model." + n, fixture.get(n));
  write_safetensors(dir + "/base_distill.safetensors", tensors);  // no __metadata__
  {
    std::ofstream cfg(dir + "/config.json");
    cfg << fixture.metadata().at("config");
  }
  const std::string out = dir + "/flow.safetensors";
  const std::string base = "dit-replay --precision f32 --weights " + dir + "/base_distill.safetensors --calls " + kCase +
                           " --out " + out;
  std::string log;
  ASSERT_EQ(test::run_worldloop(base + " --config " + dir + "/config.json", &log), 0) << log;
  const SafetensorsFile ref = SafetensorsFile::open(kCase), got = SafetensorsFile::open(out);
  double worst = 0.0;
  for (int i = 0; i < std::stoi(ref.metadata().at("calls")); ++i) {
    const std::string key = "call." + std::to_string(i) + ".flow";
    ASSERT_TRUE(got.has(key)) << key;
    worst = std::max(worst, test::relative_l2(got.get(key), ref.get(key)));
  }
  EXPECT_LT(worst, 1e-6);
  // Without the config the action module's settings are missing: a named error.
  EXPECT_EQ(test::run_worldloop(base, &log), 1) << log;
  EXPECT_NE(log.find("needs the model config"), std::string::npos) << log;
  EXPECT_NE(log.find("--config"), std::string::npos) << log;
  // A config that disagrees with the shapes names itself and the tensor.
  {
    std::ofstream cfg(dir + "/wrong.json");
    cfg << R"({"num_heads": 2, "dim": 96, "action_config": {}})";
  }
  EXPECT_EQ(test::run_worldloop(base + " --config " + dir + "/wrong.json", &log), 1) << log;
  EXPECT_NE(log.find("wrong.json: dim is 96 but tensor 'patch_embedding.weight'"), std::string::npos) << log;
  EXPECT_EQ(test::run_worldloop(base + " --config " + dir, &log), 1) << log;
  EXPECT_NE(log.find("not a regular file"), std::string::npos) << log;
}

}  // namespace
}  // namespace wl
