// The causal DiT on the CUDA backend end to end: the golden fixtures replayed
// through `worldloop dit-replay --backend cuda`, the CUDA model against the
// CPU model on a random checkpoint with an action embedding while the cache
// fills and evicts, CUDA graphs on against off, and the device memory check.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cache/kv_store.h"
#include "runtime/core/error.h"
#include "runtime/model/causal_dit.h"
#include "runtime/model/memory_plan.h"
#include "runtime/core/safetensors.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/golden.h"
#include "tests/support/random_checkpoint.h"

namespace wl {
namespace {

// ---- (a) golden fixtures ------------------------------------------------------

// Every tests/data/NAME.case.safetensors with its NAME.weights.safetensors.
std::vector<std::string> golden_fixtures() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(WL_TEST_DATA_DIR)) {
    const std::string file = entry.path().filename().string();
    const std::string suffix = ".case.safetensors";
    if (file.size() <= suffix.size() || file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string name = file.substr(0, file.size() - suffix.size());
    if (std::filesystem::exists(test::data_path(name + ".weights.safetensors"))) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

double cuda_replay_worst_error(const std::string& name, const std::string& precision) {
  return test::replay_worst_error(name, precision, "--backend cuda");
}

TEST(CudaDitGolden, F32ReplayOfEveryFixtureWithin1e4) {
  WL_REQUIRE_CUDA();
  const std::vector<std::string> fixtures = golden_fixtures();
  ASSERT_GE(fixtures.size(), 3u) << "golden fixtures missing from " << WL_TEST_DATA_DIR;
  for (const std::string& name : fixtures) EXPECT_LE(cuda_replay_worst_error(name, "f32"), 1e-4) << name;
}

TEST(CudaDitGolden, Bf16ReplayOfEveryFixtureWithin2e2) {
  WL_REQUIRE_CUDA();
  const std::vector<std::string> fixtures = golden_fixtures();
  ASSERT_GE(fixtures.size(), 3u) << "golden fixtures missing from " << WL_TEST_DATA_DIR;
  for (const std::string& name : fixtures) EXPECT_LE(cuda_replay_worst_error(name, "bf16"), 2e-2) << name;
}

// ---- (b), (c) a random checkpoint, call by call ---------------------------------

// Odd sizes on purpose: 3 heads of 32, a 6 x 10 latent (3 x 5 tokens per frame).
testref::RandomCheckpointSpec random_spec() {
  testref::RandomCheckpointSpec s;
  s.dim = 96;
  s.num_heads = 3;
  s.num_layers = 3;
  s.ffn_dim = 160;
  s.freq_dim = 32;
  s.text_dim = 40;
  s.text_len = 12;
  s.in_dim = 5;
  s.out_dim = 5;
  s.action_dim = 6;
  s.seed = 11;
  return s;
}
constexpr int64_t kHeight = 6, kWidth = 10, kChunk = 2, kCapacity = 5, kSink = 1, kChunks = 4;

struct Call {
  Tensor x;                // [chunk, C, H, W] on the CPU
  std::vector<float> t;
  int64_t start;
  bool update;
  Tensor actions;          // [chunk, action_dim] or undefined
};

// Two denoising steps and a clean pass per chunk over kChunks chunks: the
// cache of 5 frames (sink 1) evicts from the third chunk on. Every other
// chunk has no actions (the model's zero-action path).
std::vector<Call> call_sequence(const testref::RandomCheckpointSpec& s) {
  std::vector<Call> calls;
  uint32_t seed = 100;
  for (int64_t c = 0; c < kChunks; ++c) {
    const Tensor actions = c % 2 ? Tensor() : gpu_test::random_tensor({kChunk, s.action_dim}, seed++, 0.0f, 1.0f);
    for (float t : {1000.0f, 750.0f, 0.0f})
      calls.push_back({gpu_test::random_tensor({kChunk, s.in_dim, kHeight, kWidth}, seed++),
                       std::vector<float>(kChunk, t), c * kChunk, t == 0.0f, actions});
  }
  return calls;
}

struct Runner {
  std::unique_ptr<CausalDit> model;
  std::unique_ptr<cache::KvStore> store;
};

Runner make_runner(const WeightMap& weights, const Tensor& context, const DitOptions& options) {
  Runner r;
  r.model = std::make_unique<CausalDit>(weights, options);
  r.store = std::make_unique<cache::KvStore>(r.model->cache_config(kHeight, kWidth, kCapacity, kSink),
                                             cache::make_policy("full"));
  r.model->set_prompt(context);
  return r;
}

class CudaDitRandom : public ::testing::Test {
 protected:
  void SetUp() override {
    WL_REQUIRE_CUDA();  // before writing the checkpoint
    spec_ = random_spec();
    path_ = test::temp_dir() + "/random.safetensors";
    testref::write_random_checkpoint(path_, spec_);
    weights_ = std::make_unique<WeightMap>(WeightMap::open(path_));
    context_ = gpu_test::random_tensor({7, spec_.text_dim}, 5);  // 7 of 12 rows: the rest is padding
  }
  testref::RandomCheckpointSpec spec_;
  std::string path_;
  std::unique_ptr<WeightMap> weights_;
  Tensor context_;
};

void expect_cuda_matches_cpu(const WeightMap& weights, const Tensor& context, const std::vector<Call>& calls,
                             ops::MatmulPrecision cuda_precision, double tolerance) {
  Runner cpu = make_runner(weights, context, {ops::MatmulPrecision::F32, Backend::CPU});
  Runner gpu = make_runner(weights, context, {cuda_precision, Backend::CUDA});
  ASSERT_EQ(gpu.store->config().backend, Backend::CUDA);
  for (size_t i = 0; i < calls.size(); ++i) {
    const Call& c = calls[i];
    const Tensor want = cpu.model->forward(c.x, c.t, c.start, *cpu.store, c.update, c.actions);
    // Odd calls hand the CUDA model device latents: the flow comes back on the device.
    const Tensor x = i % 2 ? ops::to_backend(c.x, Backend::CUDA) : c.x;
    const Tensor got = gpu.model->forward(x, c.t, c.start, *gpu.store, c.update, c.actions);
    EXPECT_EQ(got.backend(), x.backend()) << "call " << i;
    EXPECT_EQ(got.shape(), want.shape()) << "call " << i;
    EXPECT_LE(gpu_test::normalised_error(got, want), tolerance)
        << "call " << i << " (start " << c.start << ", t " << c.t[0] << ")";
  }
}

TEST_F(CudaDitRandom, F32MatchesCpuAsTheCacheFillsAndEvicts) {
  expect_cuda_matches_cpu(*weights_, context_, call_sequence(spec_), ops::MatmulPrecision::F32, 1e-4);
}

TEST_F(CudaDitRandom, Bf16StaysWithinBf16BoundOfCpu) {
  expect_cuda_matches_cpu(*weights_, context_, call_sequence(spec_), ops::MatmulPrecision::BF16, 2e-2);
}

TEST_F(CudaDitRandom, CudaGraphsGiveTheSameBitsAsEagerLaunches) {
  if (const char* env = std::getenv("WORLDLOOP_CUDA_GRAPHS"); env && std::string(env) == "0")
    GTEST_SKIP() << "WORLDLOOP_CUDA_GRAPHS=0 turns CUDA graphs off";
  for (ops::MatmulPrecision p : {ops::MatmulPrecision::F32, ops::MatmulPrecision::BF16}) {
    SCOPED_TRACE(ops::precision_name(p));
    Runner graphs = make_runner(*weights_, context_, {p, Backend::CUDA, true});
    Runner eager = make_runner(*weights_, context_, {p, Backend::CUDA, false});
    const std::vector<Call> calls = call_sequence(spec_);
    for (size_t i = 0; i < calls.size(); ++i) {
      const Call& c = calls[i];
      const Tensor a = graphs.model->forward(c.x, c.t, c.start, *graphs.store, c.update, c.actions);
      const Tensor b = eager.model->forward(c.x, c.t, c.start, *eager.store, c.update, c.actions);
      ASSERT_EQ(a.nbytes(), b.nbytes());
      EXPECT_EQ(0, std::memcmp(a.raw(), b.raw(), a.nbytes())) << "call " << i;
    }
    // Per chunk: the first step eager, the second captured, the third and the clean pass replayed.
    const CudaGraphRunner::Stats& s = graphs.model->graph_stats();
    EXPECT_TRUE(s.disabled_reason.empty()) << s.disabled_reason;
    EXPECT_GT(s.captured, 0);
    EXPECT_GT(s.replayed, 0);
    EXPECT_EQ(eager.model->graph_stats().captured, 0);
    EXPECT_EQ(eager.model->graph_stats().replayed, 0);
  }
}

TEST_F(CudaDitRandom, NewPromptIsSeenByReplayedGraphs) {
  // Same frames and cache layout before and after a prompt switch: a stale
  // graph would keep reading the old prompt's keys and values.
  Runner graphs = make_runner(*weights_, context_, {ops::MatmulPrecision::F32, Backend::CUDA, true});
  Runner cpu = make_runner(*weights_, context_, {ops::MatmulPrecision::F32, Backend::CPU});
  const std::vector<Call> calls = call_sequence(spec_);
  const Tensor other = gpu_test::random_tensor({9, spec_.text_dim}, 77);
  for (int round = 0; round < 2; ++round) {
    if (round == 1) {
      graphs.model->set_prompt(other);
      cpu.model->set_prompt(other);
    }
    for (int i = 0; i < 3; ++i) {  // the first chunk's calls, again and again
      const Call& c = calls[static_cast<size_t>(i)];
      const Tensor want = cpu.model->forward(c.x, c.t, c.start, *cpu.store, c.update, c.actions);
      const Tensor got = graphs.model->forward(c.x, c.t, c.start, *graphs.store, c.update, c.actions);
      EXPECT_LE(gpu_test::normalised_error(got, want), 1e-4) << "round " << round << " call " << i;
    }
  }
}

// ---- the memory check -----------------------------------------------------------

TEST(CudaDitMemory, PlanLargerThanTheDeviceIsRefused) {
  WL_REQUIRE_CUDA();
  const DitConfig c;  // Wan 1.3B
  // 4096 frames at 832x480 need 4096 x 30 blocks x 1560 tokens x 1536 x 3 x 4 bytes, about 3.2 TiB of cache.
  const MemoryPlan plan =
      plan_dit_memory(c, ops::MatmulPrecision::BF16, dit_cache_config(c, 60, 104, 4096, 0, Backend::CUDA), {3, 60, 104});
  try {
    check_device_memory(plan, "--budget-frames");
    FAIL() << "a plan of " << (plan.total_bytes() >> 20) << " MiB was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MiB free on"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lower --budget-frames"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wl
