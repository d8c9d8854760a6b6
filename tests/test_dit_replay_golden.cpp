// dit-replay against the reference implementation's recorded forward calls:
// every call of a whole generation, the cache carried across calls.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "cache/kv_store.h"
#include "runtime/model/causal_dit.h"
#include "runtime/safetensors.h"
#include "tests/support/golden.h"

namespace wl {
namespace {

class GoldenReplay : public ::testing::TestWithParam<std::string> {};

// The command line end to end: f32 products, every call within 1e-4.
TEST_P(GoldenReplay, DitReplayCommandMatchesReference) {
  const std::string name = GetParam();
  const std::string out = test::temp_dir() + "/flow.safetensors";
  std::string log;
  const int rc = test::run_worldloop("dit-replay --weights " + test::data_path(name + ".weights.safetensors") +
                                         " --calls " + test::data_path(name + ".case.safetensors") + " --out " + out,
                                     &log);
  ASSERT_EQ(rc, 0) << log;
  SafetensorsFile ref = SafetensorsFile::open(test::data_path(name + ".case.safetensors"));
  SafetensorsFile got = SafetensorsFile::open(out);
  const int calls = std::stoi(ref.metadata().at("calls"));
  for (int i = 0; i < calls; ++i) {
    const std::string key = "call." + std::to_string(i) + ".flow";
    ASSERT_TRUE(got.has(key)) << key;
    EXPECT_EQ(got.info(key).shape, ref.info(key).shape) << key;
    const double err = test::relative_l2(got.get(key), ref.get(key));
    EXPECT_LE(err, 1e-4) << name << " " << key;
  }
}

// In process, bf16 products: the documented bf16 bound.
TEST_P(GoldenReplay, Bf16ProductsStayWithinBf16Bound) {
  const std::string name = GetParam();
  WeightMap weights = WeightMap::open(test::data_path(name + ".weights.safetensors"));
  SafetensorsFile ref = SafetensorsFile::open(test::data_path(name + ".case.safetensors"));
  CausalDit model(weights, DitOptions{ops::MatmulPrecision::BF16});
  const Tensor x0 = ref.get("call.0.x");
  cache::KvStore cache(model.cache_config(x0.dim(2), x0.dim(3), std::stoi(ref.metadata().at("cache_frames")),
                                   std::stoi(ref.metadata().at("sink_frames"))),
                       cache::make_policy("full"));
  model.set_prompt(ref.get_f32("context"));
  const int calls = std::stoi(ref.metadata().at("calls"));
  for (int i = 0; i < calls; ++i) {
    const std::string pre = "call." + std::to_string(i) + ".";
    Tensor flow = model.forward(ref.get_f32(pre + "x"), ref.get_f32(pre + "t").to_floats(),
                                static_cast<int64_t>(ref.get_f32(pre + "start_frame").to_floats()[0]), cache);
    EXPECT_LE(test::relative_l2(flow, ref.get(pre + "flow")), 1e-2) << name << " " << pre;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenReplay, ::testing::Values("chunk3", "sink_window"));

TEST(DitReplay, RejectsMissingFileWithOneLine) {
  std::string log;
  const int rc = test::run_worldloop("dit-replay --weights /nonexistent.safetensors --calls " +
                                         test::data_path("chunk3.case.safetensors") + " --out /tmp/x.safetensors",
                                     &log);
  EXPECT_NE(rc, 0);
  EXPECT_NE(log.find("/nonexistent.safetensors"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
}

TEST(DitReplay, RejectsMismatchedWeightsAndCase) {
  // A case file passed as weights holds no model tensors: the error names the missing one.
  std::string log;
  const int rc = test::run_worldloop("dit-replay --weights " + test::data_path("chunk3.case.safetensors") +
                                         " --calls " + test::data_path("chunk3.case.safetensors") +
                                         " --out /tmp/x.safetensors",
                                     &log);
  EXPECT_NE(rc, 0);
  EXPECT_NE(log.find("patch_embedding.weight"), std::string::npos) << log;
}

}  // namespace
}  // namespace wl
