// model.json (runtime/model/model_manifest.h): which file fills which role in
// a directory laid out as the downloads are, and the family's sampling row.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/model/model_manifest.h"

namespace wl {
namespace {
namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(fs::temp_directory_path() / ("wl_manifest_" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  void touch(const std::string& rel) const {
    fs::create_directories((path / rel).parent_path());
    std::ofstream(path / rel) << "x";
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The Wan2.1-T2V-1.3B folder as downloaded, plus a distilled checkpoint.
void wan_folder(const TempDir& d) {
  for (const char* f : {"config.json", "diffusion_pytorch_model.safetensors", "models_t5_umt5-xxl-enc-bf16.pth",
                        "Wan2.1_VAE.pth", "google/umt5-xxl/spiece.model", "google/umt5-xxl/tokenizer.json",
                        "README.md", ".cache/huggingface/x.pt"})
    d.touch(f);
}

TEST(ModelManifest, FindsTheRolesOfAWanFolderWithADistilledCheckpoint) {
  TempDir d("wan");
  wan_folder(d);
  d.touch("self_forcing_dmd.pt");
  const ModelManifest m = ModelManifest::detect(d.path.string());
  EXPECT_EQ(m.files.at("dit"), "self_forcing_dmd.pt");
  EXPECT_EQ(m.files.at("text_encoder"), "models_t5_umt5-xxl-enc-bf16.pth");
  EXPECT_EQ(m.files.at("tokenizer"), "google/umt5-xxl/spiece.model");
  EXPECT_EQ(m.files.at("vae"), "Wan2.1_VAE.pth");
  EXPECT_EQ(m.family, "self_forcing");
  EXPECT_TRUE(m.loras.empty());
  const ModelFamily f = m.sampling();
  EXPECT_EQ(f.steps, (std::vector<int>{1000, 750, 500, 250}));
  EXPECT_EQ(f.chunk, 3);
  EXPECT_EQ(m.path("dit"), (d.path / "self_forcing_dmd.pt").string());
  EXPECT_EQ(m.path("taehv"), "");
}

TEST(ModelManifest, TellsTheFamiliesApartByTheirFileNames) {
  {
    TempDir d("longlive");
    wan_folder(d);
    d.touch("longlive_models/models/longlive_base.pt");
    d.touch("longlive_models/models/lora.pt");
    const ModelManifest m = ModelManifest::detect(d.path.string());
    EXPECT_EQ(m.family, "longlive");
    EXPECT_EQ(m.files.at("dit"), "longlive_models/models/longlive_base.pt");
    ASSERT_EQ(m.loras.size(), 1u);
    EXPECT_EQ(m.loras[0].file, "longlive_models/models/lora.pt");
    EXPECT_FALSE(m.loras[0].alpha.has_value());
    EXPECT_EQ(m.sampling().sink_frames, 3);
  }
  {
    TempDir d("rolling");
    wan_folder(d);
    d.touch("checkpoints/rolling_forcing_dmd.pt");
    const ModelManifest m = ModelManifest::detect(d.path.string());
    EXPECT_EQ(m.family, "rolling_forcing");
    EXPECT_EQ(m.sampling().mode, SamplerMode::Rolling);
    EXPECT_EQ(m.sampling().steps.size(), 5u);
  }
  {
    TempDir d("causal");
    wan_folder(d);
    d.touch("causal_forcing/framewise/causal_forcing.pt");
    const ModelManifest m = ModelManifest::detect(d.path.string());
    EXPECT_EQ(m.family, "causal_forcing_frame");
    EXPECT_EQ(m.sampling().chunk, 1);
  }
  {
    TempDir d("unnamed");
    d.touch("model.pt");
    const ModelManifest m = ModelManifest::detect(d.path.string());
    EXPECT_EQ(m.family, "self_forcing");
    ASSERT_FALSE(m.notes.empty());  // says it guessed, and that the encoder and tokenizer are missing
  }
}

TEST(ModelManifest, RefusesWhatItCannotDecide) {
  TempDir d("ambiguous");
  d.touch("a.pt");
  d.touch("b.pt");
  const std::string e = error_of([&] { ModelManifest::detect(d.path.string()); });
  EXPECT_NE(e.find("a.pt"), std::string::npos) << e;
  EXPECT_NE(e.find("b.pt"), std::string::npos) << e;
  EXPECT_NE(e.find("model.json"), std::string::npos) << e;

  TempDir empty("empty");
  EXPECT_NE(error_of([&] { ModelManifest::detect(empty.path.string()); }).find("no DiT"), std::string::npos);
  EXPECT_NE(error_of([&] { ModelManifest::detect((empty.path / "missing").string()); }).find("not a directory"),
            std::string::npos);
}

TEST(ModelManifest, WritesWhatItReadsBack) {
  TempDir d("roundtrip");
  wan_folder(d);
  d.touch("longlive_base.pt");
  d.touch("lora.pt");
  ModelManifest m = ModelManifest::detect(d.path.string());
  m.loras[0].alpha = 8.0f;
  m.loras[0].scale = 2.0f;
  m.budget_frames = 18;
  m.write((d.path / "model.json").string());
  const ModelManifest r = ModelManifest::open(d.path.string());  // model.json now exists
  EXPECT_EQ(r.files, m.files);
  EXPECT_EQ(r.family, "longlive");
  ASSERT_EQ(r.loras.size(), 1u);
  EXPECT_EQ(r.loras[0].scale, 2.0f);
  EXPECT_EQ(r.loras[0].alpha, 8.0f);
  EXPECT_EQ(r.sampling().budget_frames, 18);
  EXPECT_EQ(r.sampling().steps, m.sampling().steps);
}

TEST(ModelManifest, BadModelJsonNamesTheFileAndTheProblem) {
  TempDir d("bad");
  const std::string path = (d.path / "model.json").string();
  std::ofstream(path) << "{ not json";
  EXPECT_NE(error_of([&] { ModelManifest::read(d.path.string()); }).find(path), std::string::npos);
  std::ofstream(path) << R"({"files": {}})";
  EXPECT_NE(error_of([&] { ModelManifest::read(d.path.string()); }).find("files.dit"), std::string::npos);
  std::ofstream(path) << R"({"family": "nope", "files": {"dit": "x.pt"}})";
  const std::string e = error_of([&] { ModelManifest::read(d.path.string()); });
  EXPECT_NE(e.find("unknown model family 'nope'"), std::string::npos) << e;
  EXPECT_NE(e.find("longlive"), std::string::npos) << e;
  std::ofstream(path) << R"({"files": {"dit": "x.pt"}, "sampler": {"mode": "sideways"}})";
  EXPECT_NE(error_of([&] { ModelManifest::read(d.path.string()); }).find("sampler.mode"), std::string::npos);
  std::ofstream(path) << R"({"files": {"dit": "x.pt"}, "sampler": {"mode": "rolling"}})";
  EXPECT_EQ(ModelManifest::read(d.path.string()).sampling().mode, SamplerMode::Rolling);
  std::ofstream(path) << R"({"files": {"dit": "x.pt"}, "video": {"width": 100, "height": 480}})";
  EXPECT_NE(error_of([&] { ModelManifest::read(d.path.string()); }).find("multiples of 16"), std::string::npos);
}

// model.json is checked like world.json (hardening, issue 25): a FIFO used to
// block forever, duplicate keys were taken, and numbers were converted
// unchecked (1e40 into an int is undefined behaviour; found by fuzzing).
TEST(ModelManifest, ModelJsonIsCheckedBeforeReading) {
  TempDir d("hardening");
  const std::string path = (d.path / "model.json").string();
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  std::string e = error_of([&] { ModelManifest::read(d.path.string()); });
  EXPECT_NE(e.find(path + ": the model manifest is a FIFO"), std::string::npos) << e;
  fs::remove(path);
  struct Case {
    const char* json;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"files": {"dit": "a"}, "files": {"dit": "b"}})", "'files' appears twice"},
           {R"({"files": {"dit": "a"}, "sampler": {"chunk": 1e40}})", "sampler.chunk must be a whole number in 1..64"},
           {R"({"files": {"dit": "a"}, "sampler": {"steps": [1000, 1e40]}})", "sampler.steps[1] must be a whole number"},
           {R"({"files": {"dit": "a"}, "sampler": {"steps": []}})", "sampler.steps must be a list of 1..64"},
           {R"({"files": {"dit": "a"}, "sampler": {"shift": -1}})", "sampler.shift must be a number in (0, 1000]"},
           {R"({"files": {"dit": "a"}, "cache": {"budget_frames": 5000}})", "cache.budget_frames must be in 1..4096"},
           {R"({"files": {"dit": "a"}, "cache": {"sink_frames": -1}})", "cache.sink_frames must be in 0..4096"},
           {R"({"files": {"dit": "a"}, "video": {"fps": 0}})", "video.fps must be a number in (0, 1000]"},
           {R"({"files": {"dit": "a"}, "video": {"width": 1e12}})", "video.width must be a whole number in 16..8192"},
           {R"({"files": {"dit": "a"}, "lora": [{"file": "l.pt", "scale": "big"}]})", "lora.0.scale must be a number"},
           {R"({"files": {"dit": "a"}, "lora": [{"file": "l.pt", "alpha": 0}]})", "lora.0.alpha must be a number in (0"},
           {R"({"files": {"dit": "a"}, "family": 7})", "family must be a string, got 7"},
           {R"([1, 2])", "must be a JSON object"},
       }) {
    std::ofstream(path) << c.json;
    e = error_of([&] { ModelManifest::read(d.path.string()); });
    EXPECT_NE(e.find(path + ": "), std::string::npos) << c.json << " -> " << e;
    EXPECT_NE(e.find(c.says), std::string::npos) << c.json << " -> " << e;
  }
}

// A published model's files stay in its directory, as a world package's do:
// model.json used to open absolute paths, ".." and symlinks out of it.
TEST(ModelManifest, FilesStayInsideTheModelDirectory) {
  TempDir d("inside");
  TempDir elsewhere("elsewhere");
  elsewhere.touch("spiece.model");
  const std::string path = (d.path / "model.json").string();
  const std::string outside = (elsewhere.path / "spiece.model").string();
  struct Case {
    std::string json, says;
  };
  fs::create_symlink(outside, d.path / "linked.model");
  for (const Case& c : std::vector<Case>{
           {R"({"files": {"dit": "../../etc/passwd"}})", "files.dit '../../etc/passwd' leaves the package folder"},
           {R"({"files": {"dit": "d.pt", "tokenizer": ")" + outside + R"("}})", "files.tokenizer '" + outside +
                                                                                     "' is an absolute path"},
           {R"({"files": {"dit": "d.pt", "tokenizer": "linked.model"}})",
            "files.tokenizer 'linked.model' resolves to " + outside + ", outside the package"},
           {R"({"files": {"dit": "d.pt"}, "lora": [{"file": "../l.pt"}]})", "lora.0.file '../l.pt' leaves"},
       }) {
    std::ofstream(path) << c.json;
    const std::string e = error_of([&] { ModelManifest::read(d.path.string()); });
    EXPECT_NE(e.find(path + ": "), std::string::npos) << c.json << " -> " << e;
    EXPECT_NE(e.find(c.says), std::string::npos) << c.json << " -> " << e;
    // --allow-external-paths is the one way around it.
    EXPECT_EQ(error_of([&] { ModelManifest::read(d.path.string(), true); }), "") << c.json;
  }
  std::ofstream(path) << R"({"files": {"dit": "sub/d.pt", "tokenizer": "google/umt5-xxl/spiece.model"}})";
  EXPECT_EQ(ModelManifest::read(d.path.string()).path("tokenizer"),
            (d.path / "google/umt5-xxl/spiece.model").string());
}

}  // namespace
}  // namespace wl
