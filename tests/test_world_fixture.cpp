// The C++ runtime against the training pipeline's PyTorch reference on the
// same exported weights (tools/train/make_fixture.py writes the cases into
// tests/data/world_fixture/): decoder, encoder, tokenizer + text encoder and
// the DiT with its action embedding, each within 1e-4.
//
// WorldFixture.*: the committed cases; none found is a failure.
// WorldFixtureFresh.*: a package the training smoke test has just trained
// and exported, with cases make_fixture.py wrote for it, so that the export
// format is checked on fresh output and not only on committed files. Run
// only by the ctest `world_fixture_fresh` (label train), after `train_smoke`
// has written WL_FRESH_WORLD_FIXTURE.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cache/kv_store.h"
#include "runtime/model/world.h"
#include "tests/support/golden.h"

namespace wl {
namespace {

namespace fs = std::filesystem;

// (case prefix, package folder) pairs present in a fixture folder.
std::vector<std::pair<std::string, std::string>> fixture_worlds(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!fs::exists(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = ".decoder.safetensors";
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix)) continue;
    const std::string prefix = (dir / name.substr(0, name.size() - suffix.size())).string();
    const std::string world = name.substr(0, name.size() - suffix.size());
    // The tiny random package sits beside its cases as NAME_world, a freshly
    // exported one as NAME; a shipped world under assets/worlds/.
    const fs::path beside = dir / (world + "_world"), fresh = dir / world;
    const fs::path shipped = fs::path(WL_SOURCE_DIR) / "assets" / "worlds" / world;
    out.emplace_back(prefix, fs::exists(beside) ? beside.string()
                             : fs::exists(fresh / "world.json") ? fresh.string()
                                                                : shipped.string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_worlds(const std::vector<std::pair<std::string, std::string>>& worlds) {
  for (const auto& [prefix, dir] : worlds) {
    SCOPED_TRACE(prefix);
    const WorldDescription d = WorldDescription::read(dir);
    const fs::path root(dir);

    {  // decoder
      SafetensorsFile c = SafetensorsFile::open(prefix + ".decoder.safetensors");
      ImageDecoder dec(WeightMap::open((root / d.files.at("decoder")).string()));
      EXPECT_LE(test::relative_l2(dec.decode(c.get_f32("z")), c.get_f32("rgb")), 1e-4) << "decoder";
    }
    if (d.files.count("encoder")) {
      SafetensorsFile c = SafetensorsFile::open(prefix + ".encoder.safetensors");
      ImageEncoder enc(WeightMap::open((root / d.files.at("encoder")).string()));
      EXPECT_LE(test::relative_l2(enc.encode(c.get_f32("rgb")), c.get_f32("z")), 1e-4) << "encoder";
    }
    {  // tokenizer and text encoder
      SafetensorsFile c = SafetensorsFile::open(prefix + ".text.safetensors");
      Tokenizer tok((root / d.files.at("tokenizer")).string());
      TextEncoder te(WeightMap::open((root / d.files.at("text_encoder")).string()));
      const auto prompts = nlohmann::json::parse(c.metadata().at("prompts")).get<std::vector<std::string>>();
      for (size_t i = 0; i < prompts.size(); ++i) {
        std::vector<int> ids = tok.encode(prompts[i]);
        if (static_cast<int64_t>(ids.size()) > te.max_len()) ids.resize(te.max_len());  // the encoder's reach
        const std::vector<float> want_ids = c.get_f32("ids." + std::to_string(i)).to_floats();
        ASSERT_EQ(ids.size(), want_ids.size()) << prompts[i];
        for (size_t j = 0; j < ids.size(); ++j) EXPECT_EQ(ids[j], static_cast<int>(want_ids[j])) << prompts[i];
        EXPECT_LE(test::relative_l2(te.encode(ids), c.get_f32("out." + std::to_string(i))), 1e-4) << prompts[i];
      }
    }
    {  // DiT with actions, the cache carried from call to call
      SafetensorsFile c = SafetensorsFile::open(prefix + ".dit.case.safetensors");
      WeightMap w = WeightMap::open((root / d.files.at("dit")).string());
      CausalDit dit(w, DitOptions{ops::MatmulPrecision::F32});
      const Tensor x0 = c.get_f32("call.0.x");
      cache::KvStore store(dit.cache_config(x0.dim(2), x0.dim(3), std::stoll(c.metadata().at("cache_frames")),
                                            std::stoll(c.metadata().at("sink_frames"))),
                           cache::make_policy("full"));
      dit.set_prompt(c.get_f32("context"));
      const int calls = std::stoi(c.metadata().at("calls"));
      for (int i = 0; i < calls; ++i) {
        const std::string p = "call." + std::to_string(i) + ".";
        const std::vector<float> t = c.get_f32(p + "t").to_floats();
        const bool update = std::all_of(t.begin(), t.end(), [](float v) { return v == 0.0f; });
        Tensor flow = dit.forward(c.get_f32(p + "x"), t, static_cast<int64_t>(c.get_f32(p + "start_frame").to_floats()[0]),
                                  store, update, c.get_f32(p + "actions"));
        EXPECT_LE(test::relative_l2(flow, c.get_f32(p + "flow")), 1e-4) << p;
      }
    }
  }
}

TEST(WorldFixture, RuntimeMatchesThePytorchReference) {
  const fs::path dir = test::data_path("world_fixture");
  const auto worlds = fixture_worlds(dir);
  ASSERT_FALSE(worlds.empty()) << "no fixtures in " << dir << " (tools/train/make_fixture.py writes them)";
  // The tiny random package and the shipped default world, both checked.
  std::vector<std::string> names;
  for (const auto& w : worlds) names.push_back(fs::path(w.first).filename().string());
  EXPECT_NE(std::find(names.begin(), names.end(), "tiny"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "default"), names.end());
  check_worlds(worlds);
}

TEST(WorldFixtureFresh, FreshlyExportedPackageMatchesThePytorchReference) {
  const char* env = std::getenv("WL_FRESH_WORLD_FIXTURE");
  ASSERT_NE(env, nullptr) << "WL_FRESH_WORLD_FIXTURE is not set: run through ctest (world_fixture_fresh)";
  const auto worlds = fixture_worlds(env);
  std::vector<std::string> names;
  for (const auto& w : worlds) names.push_back(fs::path(w.first).filename().string());
  ASSERT_NE(std::find(names.begin(), names.end(), "smoke"), names.end())
      << "no cases of the smoke test's exported package in " << env;
  for (const auto& w : worlds)
    if (fs::path(w.first).filename() == "smoke") {
      EXPECT_TRUE(fs::exists(fs::path(w.second) / "world.json")) << w.second;
    }
  check_worlds(worlds);
}

}  // namespace
}  // namespace wl
