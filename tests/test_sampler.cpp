// The sampler: golden latents of every fixture, the schedules of docs/model.md §4,
// prompt switches, seeded noise and long runs with flat memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <unistd.h>

#include "cache/kv_store.h"
#include "cache/rolling_window_kv.h"
#include "runtime/core/error.h"
#include "runtime/model/sampler.h"
#include "runtime/core/safetensors.h"
#include "tests/support/golden.h"
#include "tests/support/random_checkpoint.h"

namespace wl {
namespace {

// ---- golden latents -----------------------------------------------------------

class GoldenGenerate : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenGenerate, LatentsMatchReference) {
  const std::string name = GetParam();
  const std::string out = test::temp_dir() + "/latents.safetensors";
  std::string log;
  const int rc = test::run_worldloop("generate --weights " + test::data_path(name + ".weights.safetensors") +
                                         " --noise " + test::data_path(name + ".case.safetensors") + " --out " + out,
                                     &log);
  ASSERT_EQ(rc, 0) << log;
  SafetensorsFile ref = SafetensorsFile::open(test::data_path(name + ".case.safetensors"));
  SafetensorsFile got = SafetensorsFile::open(out);
  ASSERT_EQ(got.info("latents").shape, ref.info("latents").shape);
  const double err = test::relative_l2(got.get("latents"), ref.get("latents"));
  EXPECT_LE(err, 1e-4) << name;
  std::printf("  generate %s: latents rel L2 %.3g\n", name.c_str(), err);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenGenerate, ::testing::Values("chunk3", "sink_window", "rolling", "mg2_universal"));

TEST(Generate, BadFlagsGiveOneLine) {
  std::string log;
  EXPECT_NE(test::run_worldloop("generate --weights " + test::data_path("chunk3.weights.safetensors") + " --noise " +
                                    test::data_path("chunk3.case.safetensors") + " --out /tmp/x.st --frames 10",
                                &log),
            0);
  EXPECT_NE(log.find("--frames 10 is not a positive multiple of the chunk 3"), std::string::npos) << log;
  EXPECT_NE(test::run_worldloop("generate --weights " + test::data_path("chunk3.weights.safetensors") + " --noise " +
                                    test::data_path("chunk3.case.safetensors") + " --out /tmp/x.st --policy nope",
                                &log),
            0);
  EXPECT_NE(log.find("unknown cache policy 'nope'"), std::string::npos) << log;
  // Values that used to crash (a chunk of 0 divided by zero) or to give NaN
  // frames: exit code 1, one line naming the flag.
  const std::pair<std::string, std::string> bad[] = {
      {"--chunk 0", "--chunk 0 (or metadata 'chunk'"},
      {"--chunk -3", "must be 1..64 frames"},
      {"--shift nan", "--shift nan"},
      {"--shift 0", "must be a positive number"},
      {"--context-noise nan", "must be a timestep in 0..1000"},
      {"--context-noise 2000", "must be a timestep in 0..1000"},
  };
  for (const auto& [flags, says] : bad) {
    EXPECT_EQ(test::run_worldloop("generate --weights " + test::data_path("chunk3.weights.safetensors") + " --noise " +
                                      test::data_path("chunk3.case.safetensors") + " --out /tmp/x.st " + flags,
                                  &log),
              1)
        << flags << "\n" << log;
    EXPECT_NE(log.find(says), std::string::npos) << flags << "\n" << log;
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << flags << "\n" << log;
  }
}

// ---- schedules --------------------------------------------------------------------

TEST(FlowSchedule, MatchesTheFixturesTimesteps) {
  for (const char* name : {"chunk3", "rolling"}) {
    SafetensorsFile ref = SafetensorsFile::open(test::data_path(std::string(name) + ".case.safetensors"));
    FlowSchedule s(FlowSchedule::parse_steps(ref.metadata().at("steps")), std::stod(ref.metadata().at("shift")));
    const std::vector<float> want = ref.get_f32("steps.t").to_floats();
    ASSERT_EQ(s.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(s.timestep(i), want[i], 1e-3) << name << " step " << i;
  }
  FlowSchedule s({1000, 750, 500, 250}, 5.0);
  EXPECT_FLOAT_EQ(s.timestep(1), 937.5f);
  EXPECT_NEAR(s.timestep(2), 833.333f, 1e-3);
  EXPECT_FLOAT_EQ(s.timestep(3), 625.0f);
  EXPECT_THROW(FlowSchedule({500, 750}, 5.0), Error);
  EXPECT_THROW(FlowSchedule::parse_steps("1000,x"), Error);
}

// A tiny random model and its sampler parts.
struct Tiny {
  std::string path;
  std::unique_ptr<WeightMap> weights;
  std::unique_ptr<CausalDit> model;
  Tensor context;

  explicit Tiny(uint64_t seed = 3, int64_t layers = 1) {
    testref::RandomCheckpointSpec spec;
    spec.dim = 32;
    spec.num_heads = 2;
    spec.num_layers = layers;
    spec.ffn_dim = 64;
    spec.freq_dim = 16;
    spec.text_dim = 16;
    spec.text_len = 8;
    spec.seed = seed;
    path = test::temp_dir() + "/tiny.safetensors";
    testref::write_random_checkpoint(path, spec);
    weights = std::make_unique<WeightMap>(WeightMap::open(path));
    model = std::make_unique<CausalDit>(*weights, DitOptions{ops::MatmulPrecision::F32});
    context = prompt(1);
  }
  static Tensor prompt(uint64_t seed) { return SeededNoise(seed).step(0, 0, {5, 16}); }
};

struct CallLog {
  struct Call {
    int64_t start;
    std::vector<float> t;
    bool update;
  };
  std::vector<Call> calls;
  Sampler::CallObserver observer() {
    return [this](int64_t s, const std::vector<float>& t, bool u) { calls.push_back({s, t, u}); };
  }
};

// The rolling schedule of docs/model.md §4, computed from its text: window w covers
// chunks max(0, w-W+1)..min(nb-1, w); timesteps oldest first are the reversed
// step list (full), its last n entries (first windows) or its first n (last).
TEST(Sampler, RollingWindowsFollowDesignSchedule) {
  Tiny tiny;
  cache::KvStore store(tiny.model->cache_config(4, 4, 24, 3), cache::make_policy("full"));
  cache::RollingWindowKv kv(store, 3, 21);
  SeededNoise noise(5);
  SamplerSettings s;
  s.steps = {1000, 800, 600, 400, 200};
  s.mode = SamplerMode::Rolling;
  s.height = s.width = 4;
  s.total_chunks = 7;
  Sampler sampler(*tiny.model, kv, noise, s);
  CallLog log;
  sampler.set_call_observer(log.observer());
  sampler.set_prompt(tiny.context);
  for (int c = 0; c < 7; ++c) sampler.next_chunk();
  EXPECT_TRUE(sampler.finished());

  const int W = 5, nb = 7;
  std::vector<float> reversed(sampler.schedule().timesteps().rbegin(), sampler.schedule().timesteps().rend());
  ASSERT_EQ(log.calls.size(), static_cast<size_t>(2 * (nb + W - 1)));
  for (int w = 0; w <= nb + W - 2; ++w) {
    const int lo = std::max(0, w - W + 1), hi = std::min(nb - 1, w), n = hi - lo + 1;
    std::vector<float> levels;
    if (n == W) levels = reversed;
    else if (w < W - 1) levels.assign(reversed.end() - n, reversed.end());
    else levels.assign(reversed.begin(), reversed.begin() + n);
    const CallLog::Call& win = log.calls[2 * w];
    EXPECT_FALSE(win.update);
    EXPECT_EQ(win.start, lo * 3) << "window " << w;
    ASSERT_EQ(win.t.size(), static_cast<size_t>(3 * n)) << "window " << w;
    for (int i = 0; i < n; ++i)
      for (int f = 0; f < 3; ++f) EXPECT_FLOAT_EQ(win.t[3 * i + f], levels[i]) << "window " << w;
    const CallLog::Call& upd = log.calls[2 * w + 1];
    EXPECT_TRUE(upd.update);
    EXPECT_EQ(upd.start, lo * 3);
    EXPECT_EQ(upd.t, std::vector<float>(3, 0.0f));
  }
}

// Chunk mode: steps then one clean pass per chunk; frame-wise chunks of 1.
TEST(Sampler, ChunkModeCallsStepsThenCleanPass) {
  for (int64_t chunk : {1, 3}) {
    Tiny tiny;
    cache::KvStore store(tiny.model->cache_config(4, 4, 6, 0), cache::make_policy("full"));
    SeededNoise noise(1);
    SamplerSettings s;
    s.steps = {1000, 500};
    s.chunk = chunk;
    s.height = s.width = 4;
    Sampler sampler(*tiny.model, store, noise, s);
    CallLog log;
    sampler.set_call_observer(log.observer());
    sampler.set_prompt(tiny.context);
    for (int c = 0; c < 4; ++c) EXPECT_EQ(sampler.next_chunk().shape(), (Shape{chunk, 4, 4, 4}));
    ASSERT_EQ(log.calls.size(), 12u);
    for (int c = 0; c < 4; ++c) {
      EXPECT_EQ(log.calls[3 * c].start, c * chunk);
      EXPECT_FLOAT_EQ(log.calls[3 * c].t[0], 1000.0f);
      EXPECT_FLOAT_EQ(log.calls[3 * c + 1].t[0], sampler.schedule().timestep(1));
      EXPECT_TRUE(log.calls[3 * c + 2].update);
      EXPECT_EQ(log.calls[3 * c + 2].t, std::vector<float>(static_cast<size_t>(chunk), 0.0f));
    }
  }
}

// A prompt switch re-runs the most recent clean frames at t = 0 under the new
// prompt and leaves the sink's keys alone.
TEST(Sampler, PromptSwitchRecachesOnlyRecentNonSinkFrames) {
  Tiny tiny(3, 2);  // block 0's keys ignore the prompt; block 1's carry it
  cache::KvStore store(tiny.model->cache_config(4, 4, 12, 3), cache::make_policy("full"));
  SeededNoise noise(2);
  SamplerSettings s;
  s.steps = {1000, 500};
  s.height = s.width = 4;
  s.sink_frames = 3;
  s.recache_frames = 6;
  Sampler sampler(*tiny.model, store, noise, s);
  CallLog log;
  sampler.set_call_observer(log.observer());
  sampler.set_prompt(tiny.context);
  for (int c = 0; c < 4; ++c) sampler.next_chunk();  // frames 0..11

  auto keys_of = [&](int64_t frame) {
    const std::vector<int32_t>* slots = store.frame_slots(1, frame);
    EXPECT_NE(slots, nullptr);
    std::vector<float> k;
    for (int32_t slot : *slots) k.insert(k.end(), store.k_raw(1, slot), store.k_raw(1, slot) + 32);
    return k;
  };
  const auto sink_before = keys_of(0), old_before = keys_of(3), recent_before = keys_of(9);
  log.calls.clear();
  sampler.set_prompt(Tiny::prompt(99));

  EXPECT_EQ(sampler.last_recache_frames(), (std::vector<int64_t>{6, 7, 8, 9, 10, 11}));
  ASSERT_EQ(log.calls.size(), 2u);
  for (const auto& call : log.calls) {
    EXPECT_TRUE(call.update);
    EXPECT_GE(call.start, 6);
    EXPECT_EQ(call.t, std::vector<float>(3, 0.0f));
  }
  EXPECT_EQ(keys_of(0), sink_before);     // sink untouched
  EXPECT_EQ(keys_of(3), old_before);      // older than the re-cache window
  EXPECT_NE(keys_of(9), recent_before);   // re-encoded under the new prompt
  // The next chunk continues where it was.
  log.calls.clear();
  sampler.next_chunk();
  EXPECT_EQ(log.calls.front().start, 12);
}

// A switch so early that the re-cache window reaches back into the sink: with 6
// frames done and recache_frames 6 the window would start at frame 0, so only
// the sink guard keeps frames 0..2 out of it.
TEST(Sampler, EarlyPromptSwitchLeavesTheSinkAlone) {
  Tiny tiny(3, 2);
  cache::KvStore store(tiny.model->cache_config(4, 4, 12, 3), cache::make_policy("full"));
  SeededNoise noise(2);
  SamplerSettings s;
  s.steps = {1000, 500};
  s.height = s.width = 4;
  s.sink_frames = 3;
  s.recache_frames = 6;
  Sampler sampler(*tiny.model, store, noise, s);
  CallLog log;
  sampler.set_call_observer(log.observer());
  sampler.set_prompt(tiny.context);
  for (int c = 0; c < 2; ++c) sampler.next_chunk();  // frames 0..5; 0..2 are the sink

  auto keys_of = [&](int64_t frame) {
    const std::vector<int32_t>* slots = store.frame_slots(1, frame);
    EXPECT_NE(slots, nullptr);
    std::vector<float> k;
    if (!slots) return k;
    for (int32_t slot : *slots) k.insert(k.end(), store.k_raw(1, slot), store.k_raw(1, slot) + 32);
    return k;
  };
  const auto sink_before = keys_of(0), recent_before = keys_of(4);
  log.calls.clear();
  sampler.set_prompt(Tiny::prompt(99));

  EXPECT_EQ(sampler.last_recache_frames(), (std::vector<int64_t>{3, 4, 5}));
  ASSERT_EQ(log.calls.size(), 1u);
  EXPECT_TRUE(log.calls[0].update);
  EXPECT_EQ(log.calls[0].start, 3);
  EXPECT_EQ(keys_of(0), sink_before);    // the sink keeps the keys of the prompt it was made under
  EXPECT_NE(keys_of(4), recent_before);  // the rest of the window is re-encoded
}

TEST(Sampler, SeededNoiseIsDeterministic) {
  auto run = [](uint64_t seed) {
    Tiny tiny;
    cache::KvStore store(tiny.model->cache_config(4, 4, 9, 0), cache::make_policy("full"));
    SeededNoise noise(seed);
    SamplerSettings s;
    s.height = s.width = 4;
    Sampler sampler(*tiny.model, store, noise, s);
    sampler.set_prompt(tiny.context);
    std::vector<float> out;
    for (int c = 0; c < 3; ++c) {
      std::vector<float> x = sampler.next_chunk().to_floats();
      out.insert(out.end(), x.begin(), x.end());
    }
    return out;
  };
  EXPECT_EQ(run(11), run(11));
  EXPECT_NE(run(11), run(12));
}

long resident_kb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// 2,000 frame-wise chunks under a budget of 6 frames: the store never grows,
// positions run past any 1024-frame table, and the process does not grow.
TEST(Sampler, TwoThousandChunksKeepMemoryFlat) {
  Tiny tiny;
  cache::KvStore store(tiny.model->cache_config(4, 4, 6, 1), cache::make_policy("full"));
  SeededNoise noise(4);
  SamplerSettings s;
  s.steps = {1000};
  s.chunk = 1;
  s.height = s.width = 4;
  Sampler sampler(*tiny.model, store, noise, s);
  sampler.set_prompt(tiny.context);
  long rss_at_100 = 0;
  const int64_t budget_bytes = store.stats().bytes_budget;
  for (int c = 0; c < 2000; ++c) {
    Tensor x = sampler.next_chunk();
    ASSERT_TRUE(std::isfinite(x.f32()[0])) << "chunk " << c;
    ASSERT_LE(store.bytes_used(), budget_bytes);
    for (int64_t b = 0; b < 1; ++b) ASSERT_LE(store.used_tokens(b), store.config().budget_tokens);
    if (c == 100) rss_at_100 = resident_kb();
  }
  EXPECT_EQ(store.frames().size(), 6u);
  EXPECT_EQ(store.frames().front(), 0);     // the sink frame stays
  EXPECT_EQ(store.frames().back(), 1999);   // past 1024
  EXPECT_LT(resident_kb() - rss_at_100, 4096) << "resident memory grew over 1,900 chunks";
}

}  // namespace
}  // namespace wl
