// How a world package begins (runtime/model/world_start.h): the shipped
// world's own clip, a start from noise, an image start with and without
// frames, and clips that do not fit the package.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/sources/oracle_primer.h"
#include "app/sources/world_source.h"
#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
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

// Rewrites <dir>/world.json with `start` set.
void set_start(const std::string& dir, const nlohmann::json& start) {
  nlohmann::json j = nlohmann::json::parse(std::ifstream(dir + "/world.json"));
  j["start"] = start;
  std::ofstream(dir + "/world.json") << j.dump(2);
}

std::vector<uint8_t> play(app::WorldSource& source, uint64_t seed, const std::string& prompt, int chunks) {
  source.reset(seed, prompt);
  std::vector<uint8_t> all, rgb;
  const std::vector<FrameActions> actions(static_cast<size_t>(source.chunk_frames()), FrameActions{kActForward});
  for (int c = 0; c < chunks; ++c) {
    source.next_chunk({c * source.chunk_frames(), actions}, rgb);
    all.insert(all.end(), rgb.begin(), rgb.end());
  }
  return all;
}

// The shipped world starts from its own clip, which is the oracle's start at
// seed 0 (tools/oracle/make_start_clip). Its frames are the oracle's, byte for
// byte; its latents are the package encoder's, which match bit for bit on the
// ISA that made them and to float rounding on another (oneDNN's kernels sum in
// another order); playing from the clip then gives the frames that priming
// from the oracle gives, exactly when the latents agree exactly.
TEST(WorldStart, ShippedClipIsTheOraclesStartAtSeedZero) {
  const std::string dir = default_world_dir();
  auto world = World::open(dir);
  const WorldDescription& d = world->description();
  ASSERT_EQ(d.start, StartFrom::Clip);
  ASSERT_NE(world->start_clip(), nullptr);
  ASSERT_NE(world->encoder(), nullptr);
  bool latents_exact = true;
  for (const std::string& prompt : d.presets) {
    const StartEntry& e = world->start_clip()->for_prompt(prompt);
    std::vector<FrameActions> actions;
    const std::vector<uint8_t> rgb = app::oracle_priming_frames(d.image_width, d.image_height, 0, prompt,
                                                                static_cast<int>(d.prime_frames), actions);
    ASSERT_EQ(static_cast<size_t>(e.rgb.numel()), rgb.size());
    for (size_t k = 0; k < rgb.size(); ++k) ASSERT_EQ(e.rgb.f32()[k], static_cast<float>(rgb[k])) << prompt << " " << k;
    Tensor z = world->encoder()->encode_rgb8(rgb.data(), d.prime_frames, d.image_height, d.image_width);
    double worst = 0, scale = 0;
    for (int64_t k = 0; k < z.numel(); ++k) {
      const double want = static_cast<double>(z.f32()[k] * d.latent_scale);
      worst = std::max(worst, std::abs(want - e.latents.f32()[k]));
      scale = std::max(scale, std::abs(want));
      latents_exact = latents_exact && z.f32()[k] * d.latent_scale == e.latents.f32()[k];
    }
    EXPECT_LE(worst, 1e-5 * scale) << prompt;
    for (int64_t k = 0; k < e.actions.numel(); ++k) EXPECT_EQ(e.actions.f32()[k], 0.0f);
  }
  app::WorldSourceOptions from_clip;
  from_clip.dir = dir;
  app::WorldSourceOptions from_oracle = from_clip;
  from_oracle.primer = [&](uint64_t seed, const std::string& prompt, int frames, std::vector<FrameActions>& a) {
    return app::oracle_priming_frames(d.image_width, d.image_height, seed, prompt, frames, a);
  };
  app::WorldSource a(from_clip), b(from_oracle);
  for (const std::string& prompt : {d.presets.front(), d.presets.back()}) {
    const std::vector<uint8_t> x = play(a, 0, prompt, 3), y = play(b, 0, prompt, 3);
    ASSERT_EQ(x.size(), y.size());
    if (latents_exact) {
      EXPECT_EQ(x, y) << prompt;
    } else {
      double diff = 0;
      for (size_t k = 0; k < x.size(); ++k) diff += std::abs(int(x[k]) - int(y[k]));
      EXPECT_LE(diff / static_cast<double>(x.size()), 0.5) << prompt << ": mean difference in levels";
    }
  }
  // Another seed changes the noise, not the start: the frames differ from the oracle-primed ones.
  EXPECT_NE(play(a, 5, d.presets.front(), 3), play(b, 5, d.presets.front(), 3));
}

TEST(WorldStart, NoiseStartPrimesNothingAndImageStartNeedsFrames) {
  const std::string dir = test::temp_dir() + "/world";
  testref::write_random_world(dir);
  set_start(dir, {{"from", "noise"}});
  {
    auto world = World::open(dir);
    WorldSession s(*world, {}, 1, "a snowy forest");
    EXPECT_FALSE(s.primed());
    EXPECT_EQ(s.store().stats().frames.size(), 0u);
  }
  set_start(dir, {{"from", "image"}});
  auto world = World::open(dir);
  const std::string e = error_of([&] { WorldSession s(*world, {}, 1, "x"); });
  EXPECT_NE(e.find("world.json"), std::string::npos) << e;
  EXPECT_NE(e.find("starts from an image"), std::string::npos) << e;
  const WorldDescription& d = world->description();
  StartFrames start;
  start.actions.assign(static_cast<size_t>(d.prime_frames), FrameActions{});
  start.rgb.assign(static_cast<size_t>(d.prime_frames) * d.image_width * d.image_height * 3, 90);
  WorldSession s(*world, {}, 1, "x", &start);
  EXPECT_TRUE(s.primed());
  start.rgb.pop_back();
  const std::string e2 = error_of([&] { WorldSession t(*world, {}, 1, "x", &start); });
  EXPECT_NE(e2.find("bytes"), std::string::npos) << e2;
}

TEST(WorldStart, ClipsThatDoNotFitNameTheFileAndTensor) {
  const std::string dir = test::temp_dir() + "/world";
  testref::write_random_world(dir);
  const WorldDescription d = WorldDescription::read(dir);  // (reading checks that the files it names exist)
  set_start(dir, {{"from", "clip"}, {"file", "start.safetensors"}});
  // Missing file.
  std::string e = error_of([&] { World::open(dir); });
  EXPECT_NE(e.find("start.safetensors"), std::string::npos) << e;
  // A clip whose latents have the wrong shape.
  const int64_t n = d.prime_frames;
  std::vector<std::pair<std::string, Tensor>> t;
  for (size_t i = 0; i < std::max<size_t>(d.presets.size(), 1); ++i) {
    const std::string k = std::to_string(i);
    t.emplace_back("rgb." + k, Tensor::zeros({n, d.image_height, d.image_width, 3}));
    t.emplace_back("latents." + k, Tensor::zeros({n, d.latent_channels + 1, d.latent_height, d.latent_width}));
    t.emplace_back("actions." + k, Tensor::zeros({n, static_cast<int64_t>(d.actions.size())}));
  }
  write_safetensors(dir + "/start.safetensors", t);
  e = error_of([&] { World::open(dir); });
  EXPECT_NE(e.find("start.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("'latents.0'"), std::string::npos) << e;
  set_start(dir, {{"from", "video"}});
  e = error_of([&] { World::open(dir); });
  EXPECT_NE(e.find("start.from must be noise, clip or image"), std::string::npos) << e;
}

}  // namespace
}  // namespace wl
