// World packages: loading, playing through a WorldSource, and clear errors for
// packages whose parts do not fit (on random packages; the trained world has
// its own fixture test).
#include <algorithm>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "app/sources/world_source.h"
#include "runtime/core/error.h"
#include "runtime/model/world.h"
#include "tests/support/golden.h"
#include "tests/support/random_world.h"

namespace wl {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(WorldPackage, LoadsAndEncodesPrompts) {
  const std::string dir = test::temp_dir() + "/world";
  testref::write_random_world(dir);
  auto world = World::open(dir, DitOptions{ops::MatmulPrecision::F32});
  EXPECT_EQ(world->description().name, "random-test-world");
  EXPECT_EQ(world->dit().config().action_dim, 8);
  ASSERT_NE(world->encoder(), nullptr);
  const Tensor a = world->prompt_context("a snowy forest"), b = world->prompt_context("desert dunes");
  EXPECT_EQ(a.dim(1), 16);
  EXPECT_NE(a.to_floats(), b.to_floats());
  // Encoder and decoder round the image size.
  std::vector<uint8_t> img(3 * 64 * 64 * 3, 100);
  Tensor z = world->encoder()->encode_rgb8(img.data(), 3, 64, 64);
  EXPECT_EQ(z.shape(), (Shape{3, 4, 16, 16}));
  std::vector<uint8_t> rgb;
  world->decoder().decode_rgb8(z, rgb);
  EXPECT_EQ(rgb.size(), img.size());
}

TEST(WorldPackage, WorldSourcePlaysWithActionsAndPromptSwitch) {
  const std::string dir = test::temp_dir() + "/world";
  testref::write_random_world(dir);
  app::WorldSourceOptions o;
  o.dir = dir;
  o.dit.precision = ops::MatmulPrecision::F32;
  int primed = 0;
  o.primer = [&](uint64_t, const std::string&, int frames, std::vector<FrameActions>& actions) {
    primed = frames;
    actions.assign(static_cast<size_t>(frames), FrameActions{});
    return std::vector<uint8_t>(static_cast<size_t>(frames) * 64 * 64 * 3, 90);
  };
  auto play = [&](uint32_t keys) {
    app::WorldSource source(o);
    source.reset(7, "a summer meadow");
    std::vector<FrameActions> actions(3, FrameActions{keys});
    std::vector<uint8_t> rgb, all;
    for (int c = 0; c < 4; ++c) {
      if (c == 2) source.set_prompt("a snowy forest");
      const app::ChunkStats stats = source.next_chunk({c * 3, actions}, rgb);
      EXPECT_EQ(rgb.size(), 3u * 64 * 64 * 3);
      EXPECT_EQ(stats.cache.policy, "full");
      EXPECT_GT(stats.cache.frames.size(), 0u);
      all.insert(all.end(), rgb.begin(), rgb.end());
    }
    EXPECT_LE(source.store().bytes_used(), source.store().stats().bytes_budget);
    return all;
  };
  const auto idle = play(0), right = play(kActRight);
  EXPECT_EQ(primed, 3);
  EXPECT_EQ(play(0), idle);   // deterministic for a seed
  EXPECT_NE(idle, right);     // the action embedding reaches the frames
}

// The app loads a world on the main thread and steps it on the model thread:
// oneDNN primitives created on one thread must run on another (they once
// overran a scratchpad sized for the creating thread).
// The model thread is not the thread that loaded and packed the weights (the
// window loads on the main thread). Anything thread-bound in the load (a oneDNN
// stream, a thread-local scratch arena) would give other pixels or crash, so
// the frames must equal a run on the loading thread, byte for byte.
TEST(WorldPackage, RunsOnAnotherThreadThanItWasLoadedOn) {
  const std::string dir = test::temp_dir() + "/world";
  testref::write_random_world(dir);
  app::WorldSourceOptions o;
  o.dir = dir;
  o.primer = [](uint64_t, const std::string&, int frames, std::vector<FrameActions>& actions) {
    actions.assign(static_cast<size_t>(frames), FrameActions{});
    return std::vector<uint8_t>(static_cast<size_t>(frames) * 64 * 64 * 3, 120);
  };
  auto play = [](app::WorldSource& source) {
    source.reset(2, "a snowy forest");
    std::vector<FrameActions> actions(3, FrameActions{kActForward});
    std::vector<uint8_t> all, rgb;
    for (int c = 0; c < 3; ++c) {
      source.next_chunk({c * 3, actions}, rgb);
      all.insert(all.end(), rgb.begin(), rgb.end());
    }
    return all;
  };
  app::WorldSource here(o);
  const std::vector<uint8_t> on_loading_thread = play(here);

  app::WorldSource source(o);  // loads, primes and packs here
  std::vector<uint8_t> on_model_thread;
  std::thread model([&] { on_model_thread = play(source); });
  model.join();
  ASSERT_EQ(on_model_thread.size(), 9u * 64 * 64 * 3);
  EXPECT_EQ(on_model_thread, on_loading_thread);
  EXPECT_NE(std::count(on_model_thread.begin(), on_model_thread.end(), on_model_thread[0]),
            static_cast<std::ptrdiff_t>(on_model_thread.size()))
      << "the frames are one flat colour";
}

TEST(WorldPackage, CachePolicyAndBudgetChangeLive) {
  const std::string dir = test::temp_dir() + "/world";
  testref::write_random_world(dir);
  app::WorldSourceOptions o;
  o.dir = dir;
  app::WorldSource source(o);
  source.reset(3, "a swamp");
  std::vector<FrameActions> actions(3);
  std::vector<uint8_t> rgb;
  for (int c = 0; c < 5; ++c) source.next_chunk({c * 3, actions}, rgb);
  const int64_t tpf = source.store().config().tokens_per_frame();
  EXPECT_EQ(source.store().config().budget_tokens, 12 * tpf);
  EXPECT_EQ(source.set_cache("future", 6), "");
  EXPECT_EQ(source.store().policy().name(), "future");
  EXPECT_EQ(source.store().config().budget_tokens, 6 * tpf);
  EXPECT_LE(source.store().used_tokens(0), 6 * tpf);
  for (int c = 5; c < 8; ++c) source.next_chunk({c * 3, actions}, rgb);
  EXPECT_EQ(source.store().stats().policy, "future");
  EXPECT_NE(source.set_cache("full", 4).find("cannot hold"), std::string::npos);  // 3 sink + a chunk of 3
  EXPECT_NE(source.set_cache("nope", 0).find("unknown cache policy"), std::string::npos);
}

TEST(WorldPackage, BrokenPackagesNameTheFileAndProblem) {
  EXPECT_NE(error_of([] { World::open("/nonexistent-world"); }).find("/nonexistent-world/world.json"),
            std::string::npos);
  const std::string dir = test::temp_dir() + "/world";
  testref::RandomWorldSpec spec;
  spec.decoder_channels_override = 3;
  testref::write_random_world(dir, spec);
  const std::string e = error_of([&] { World::open(dir); });
  EXPECT_NE(e.find("world.json"), std::string::npos) << e;
  EXPECT_NE(e.find("latent channels"), std::string::npos) << e;

  const std::string dir2 = test::temp_dir() + "/world";
  testref::write_random_world(dir2);
  std::ofstream(dir2 + "/world.json") << "{\"name\": 1}";
  EXPECT_NE(error_of([&] { World::open(dir2); }).find("world.json"), std::string::npos);
  fs::remove(dir2 + "/tokenizer.model");
  std::ofstream(dir2 + "/world.json") << "{}";
  EXPECT_FALSE(error_of([&] { World::open(dir2); }).empty());
}

}  // namespace
}  // namespace wl
