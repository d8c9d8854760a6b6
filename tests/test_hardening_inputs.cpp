// The defects of the hardening issue (25) that concern what `play` and
// `generate` read, reproduced and shown fixed: each bad input ends with exit
// code 1 (never a signal or a hang) and one last line that names the file and
// the problem; files outside a package are not opened; NaN weights and
// latents are caught; recordings survive SIGINT/SIGTERM; a missing or broken
// CUDA driver or Vulkan driver is one plain line (HardeningDevices.*).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/loop/play_config.h"
#include "app/loop/play_session.h"
#include "app/sources/frame_source.h"
#include "render/vk_check.h"
#include "render/vk_driver_problem.h"
#include "runtime/core/ops.h"
#include "runtime/cuda/cuda_unavailable.h"
#include "tests/support/golden.h"
#include "tests/support/random_world.h"
#include "tests/support/tiny_published_model.h"

namespace wl {
namespace {

namespace fs = std::filesystem;

struct RunResult {
  int rc = -1;        // exit code; -1 when ended by a signal
  std::string last;   // the last line of stderr
  std::string all;
};

// Runs `worldloop ARGS` under `timeout 60` (a hang fails as 124, and a loaded
// machine still finishes) with stdout discarded. With `wrapper` (xvfb-run),
// worldloop runs inside it through sh -c and keeps its own exit code: the
// wrapper's is not worldloop's (xvfb-run's clean-up of its temporary folder
// can fail on a loaded machine, exit code 5).
RunResult worldloop(const std::string& args, const std::string& env = "", const std::string& wrapper = "") {
  const std::string dir = test::temp_dir(), log = dir + "/stderr.txt", rc_file = dir + "/rc.txt";
  const std::string inner = "timeout 60 " + std::string(WL_WORLDLOOP_EXE) + " " + args + " >/dev/null 2>" + log;
  const std::string prefix = env + (env.empty() ? "" : " ");
  RunResult r;
  if (wrapper.empty()) {
    const int status = std::system((prefix + inner).c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else {
    std::system((prefix + wrapper + " sh -c '" + inner + "; echo $? >" + rc_file + "' >/dev/null 2>&1").c_str());
    std::ifstream rc(rc_file);
    if (!(rc >> r.rc)) r.rc = -1;
    if (r.rc > 128) r.rc = -1;  // the shell's 128+N: ended by signal N
  }
  std::ifstream in(log);
  r.all.assign(std::istreambuf_iterator<char>(in), {});
  std::string t = r.all;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  r.last = nl == std::string::npos ? t : t.substr(nl + 1);
  return r;
}

// A random world package in a fresh folder; `edit` changes its world.json.
std::string package(const std::function<void(nlohmann::json&)>& edit = {}) {
  const std::string dir = test::temp_dir() + "/world";
  testref::write_random_world(dir);
  if (edit) {
    const std::string path = dir + "/world.json";
    nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
    edit(j);
    std::ofstream(path) << j.dump(2);
  }
  return dir;
}

std::string play(const std::string& dir, const std::string& more = "") {
  return "play --model " + dir + " --headless --frames 3 --threads 1 " + more;
}

void expect_refused(const RunResult& r, const std::vector<std::string>& says, const std::string& what) {
  EXPECT_EQ(r.rc, 1) << what << " (rc -1 is a signal, 124 a hang)\n" << r.all;
  for (const std::string& s : says) EXPECT_NE(r.last.find(s), std::string::npos) << what << ": " << r.last;
}

TEST(HardeningInputs, TheRandomPackagePlays) {  // the baseline the cases below break
  const RunResult r = worldloop(play(package()));
  EXPECT_EQ(r.rc, 0) << r.all;
}

// world.json's numbers: typed, finite and in range, each error naming the key.
TEST(HardeningInputs, WorldJsonNumbersAreTypedAndInRange) {
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::string says;
  };
  const Case cases[] = {
      {[](nlohmann::json& j) { j["fps"] = 0; }, "fps must be a number in (0, 1000], got 0"},
      {[](nlohmann::json& j) { j["fps"] = -30; }, "fps must be a number in (0, 1000], got -30"},
      {[](nlohmann::json& j) { j["prime_frames"] = -3; }, "prime_frames must be in 0..256, got -3"},
      {[](nlohmann::json& j) { j["prime_frames"] = 1000; }, "prime_frames must be in 0..256, got 1000"},
      {[](nlohmann::json& j) { j["cache"]["budget_frames"] = 6.5; }, "cache.budget_frames must be a whole number"},
      {[](nlohmann::json& j) { j["cache"]["budget_frames"] = 1e12; }, "cache.budget_frames must be a whole number"},
      {[](nlohmann::json& j) { j["cache"]["budget_frames"] = 5000; }, "cache.budget_frames must be in 1..4096"},
      {[](nlohmann::json& j) { j["latent_scale"] = 0; }, "latent_scale must be a number in"},
      {[](nlohmann::json& j) { j["image"]["width"] = int64_t{1} << 40; }, "image.width must be in 1..8192, got 1099511627776"},
      {[](nlohmann::json& j) { j["sampler"]["shift"] = -1; }, "sampler.shift must be a number in (0, 1000]"},
      {[](nlohmann::json& j) { j["sampler"]["steps"] = {1000, 2000}; }, "sampler.steps[1] must be in 0..1000, got 2000"},
      // 1e40 used to be converted to an int before the check (UBSan, found by fuzz_world_description).
      {[](nlohmann::json& j) { j["sampler"]["steps"] = {1000, 1e40}; }, "sampler.steps[1] must be a whole number in 0..1000"},
      {[](nlohmann::json& j) { j["sampler"]["steps"] = nlohmann::json::array(); }, "sampler.steps must be a list of 1..64"},
      {[](nlohmann::json& j) { j["sampler"]["context_noise"] = "nan"; }, "sampler.context_noise must be a number"},
      {[](nlohmann::json& j) { j["cache"]["policy"] = "nope"; }, "cache.policy 'nope' is not a cache policy"},
  };
  for (const Case& c : cases) {
    const std::string dir = package(c.edit);
    expect_refused(worldloop(play(dir)), {dir + "/world.json", c.says}, c.says);
  }
}

TEST(HardeningInputs, DuplicateKeysAreRefused) {
  const std::string dir = package();
  std::ifstream in(dir + "/world.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  text.insert(text.find('{') + 1, "\"fps\": 12, \"fps\": 13,");
  std::ofstream(dir + "/world.json") << text;
  expect_refused(worldloop(play(dir)), {"world.json", "the key 'fps' appears twice"}, "duplicate key");
}

// FIFOs in place of world.json or a weights file used to block forever.
TEST(HardeningInputs, FifosAreRefusedWithoutBlocking) {
  for (const char* file : {"world.json", "dit.safetensors", "tokenizer.model"}) {
    const std::string dir = package();
    fs::remove(dir + "/" + file);
    ASSERT_EQ(::mkfifo((dir + "/" + file).c_str(), 0600), 0);
    expect_refused(worldloop(play(dir)), {file, "is a FIFO, not a regular file"}, file);
  }
}

// A package's files stay inside it: .., absolute paths and symlinks that lead
// out are refused before anything is opened; --allow-external-paths allows them.
TEST(HardeningInputs, PackageFilesStayInsideThePackage) {
  const std::string outside = test::temp_dir() + "/outside.model";
  {
    const std::string donor = package();
    fs::copy_file(donor + "/tokenizer.model", outside);
  }
  std::string dir = package([](nlohmann::json& j) { j["files"]["tokenizer"] = "../../etc/passwd"; });
  expect_refused(worldloop(play(dir)), {"files.tokenizer '../../etc/passwd' leaves the package folder"}, "..");

  dir = package([&](nlohmann::json& j) { j["files"]["tokenizer"] = outside; });
  expect_refused(worldloop(play(dir)), {"files.tokenizer", "is an absolute path"}, "absolute");
  EXPECT_EQ(worldloop(play(dir, "--allow-external-paths")).rc, 0) << "--allow-external-paths";

  dir = package();
  fs::remove(dir + "/tokenizer.model");
  fs::create_symlink(outside, dir + "/tokenizer.model");
  expect_refused(worldloop(play(dir)), {"files.tokenizer 'tokenizer.model' resolves to", "outside the package"},
                 "symlink out");

  // /dev/zero used to be read until memory ran out.
  dir = package([](nlohmann::json& j) { j["files"]["tokenizer"] = "/dev/zero"; });
  expect_refused(worldloop(play(dir)), {"is an absolute path"}, "/dev/zero");
  expect_refused(worldloop(play(dir, "--allow-external-paths")), {"/dev/zero", "is a character device"},
                 "/dev/zero allowed");

  // A package that is only a world.json does not play weights from elsewhere.
  dir = test::temp_dir() + "/bare";
  fs::create_directories(dir);
  fs::copy_file(package() + "/world.json", dir + "/world.json");
  expect_refused(worldloop(play(dir)), {dir, "No such file or directory"}, "bare world.json");
}

// The same rule for a published model directory's model.json: the tokenizer
// it names may not be ../, an absolute path or a symlink out of the folder.
TEST(HardeningInputs, ModelJsonFilesStayInsideTheModelDirectory) {
  const std::string dir = test::temp_dir() + "/published";
  testref::write_tiny_published_files(dir, "self_forcing_dmd.safetensors");
  const std::string outside = test::temp_dir() + "/spiece.model";
  fs::copy_file(dir + "/google/umt5-xxl/spiece.model", outside, fs::copy_options::overwrite_existing);
  fs::create_symlink(outside, dir + "/linked.model");
  const auto manifest = [&](const std::string& tokenizer) {
    std::ofstream(dir + "/model.json", std::ios::trunc)
        << R"({"family": "self_forcing", "files": {"dit": "self_forcing_dmd.safetensors",
               "text_encoder": "models_t5_umt5-xxl-enc-bf16.safetensors", "tokenizer": ")"
        << tokenizer << R"("}, "video": {"width": 64, "height": 48}})";
  };
  manifest("google/umt5-xxl/spiece.model");
  EXPECT_EQ(worldloop(play(dir)).rc, 0) << "inside";
  manifest("../spiece.model");
  expect_refused(worldloop(play(dir)), {dir + "/model.json", "files.tokenizer '../spiece.model' leaves"}, "..");
  manifest(outside);
  expect_refused(worldloop(play(dir)), {"files.tokenizer", "is an absolute path"}, "absolute");
  EXPECT_EQ(worldloop(play(dir, "--allow-external-paths")).rc, 0) << "--allow-external-paths";
  manifest("linked.model");
  expect_refused(worldloop(play(dir)), {"files.tokenizer 'linked.model' resolves to", "outside the package"},
                 "symlink out");
}

TEST(HardeningInputs, GarbageTokenizerSaysWhatItIsNot) {
  const std::string dir = package();
  std::ofstream(dir + "/tokenizer.model", std::ios::binary | std::ios::trunc) << std::string(1000, '\x07');
  expect_refused(worldloop(play(dir)), {dir + "/tokenizer.model", "not a SentencePiece model"}, "garbage");
}

// NaN or Inf in any weight tensor used to play black frames with exit code 0.
TEST(HardeningInputs, NonFiniteWeightsAreRefusedByName) {
  for (const uint32_t bits : {0x7fc00000u, 0x7f800000u, 0xff800000u}) {
    const std::string dir = package();
    const std::string path = dir + "/decoder.safetensors";
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    uint64_t header = 0;
    f.read(reinterpret_cast<char*>(&header), 8);
    std::string text(header, '\0');
    f.read(text.data(), static_cast<std::streamsize>(header));
    const nlohmann::json h = nlohmann::json::parse(text);
    std::string name;
    uint64_t at = 0;
    for (const auto& [k, v] : h.items())
      if (k != "__metadata__" && v["dtype"] == "F32" && (name.empty() || k < name))
        name = k, at = v["data_offsets"][0].get<uint64_t>();
    ASSERT_FALSE(name.empty());
    f.seekp(static_cast<std::streamoff>(8 + header + at));
    f.write(reinterpret_cast<const char*>(&bits), 4);
    f.close();
    const char* what = bits == 0x7fc00000u ? "NaN" : bits == 0x7f800000u ? "+Inf" : "-Inf";
    expect_refused(worldloop(play(dir)), {path, "tensor '" + name + "' holds " + what}, what);
  }
}

// Finite weights can still overflow: latents that come out NaN or Inf stop
// the world with the chunk named (headless: exit 1), instead of black frames.
// Fills one F32 tensor of a package's DiT with 3e38: finite, but its products are not.
void overflow_tensor(const std::string& path, const std::string& name) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  uint64_t header = 0;
  f.read(reinterpret_cast<char*>(&header), 8);
  std::string text(header, '\0');
  f.read(text.data(), static_cast<std::streamsize>(header));
  const nlohmann::json h = nlohmann::json::parse(text);
  ASSERT_TRUE(h.contains(name)) << name;
  ASSERT_EQ(h[name]["dtype"], "F32");
  const uint64_t begin = h[name]["data_offsets"][0], end = h[name]["data_offsets"][1];
  const float huge = 3e38f;
  f.seekp(static_cast<std::streamoff>(8 + header + begin));
  for (uint64_t o = begin; o < end; o += 4) f.write(reinterpret_cast<const char*>(&huge), 4);
}

TEST(HardeningInputs, NonFiniteLatentsStopTheWorld) {
  std::string dir = package();
  overflow_tensor(dir + "/dit.safetensors", "head.head.weight");
  expect_refused(worldloop(play(dir)), {dir, "the model produced NaN or Inf latents at chunk 0"}, "overflowing head");
  // In a block, the CPU names the first block whose output overflowed.
  fs::remove_all(dir);
  dir = package();
  overflow_tensor(dir + "/dit.safetensors", "blocks.1.ffn.2.weight");
  expect_refused(worldloop(play(dir)), {"at chunk 0", "first in the output of block 1"}, "overflowing block 1");
}

TEST(HardeningInputs, FlagsThatWereSilentlyWrong) {
  const std::string dir = package();
  expect_refused(worldloop(play(dir, "--budget-frames 0")), {"--budget-frames needs an integer >= 1"}, "budget 0");
  expect_refused(worldloop(play(dir, "--budget-frames 5000")), {"--budget-frames must be 1..4096"}, "budget 5000");
  const std::string gen = "generate --weights " + test::data_path("chunk3.weights.safetensors") + " --noise " +
                          test::data_path("chunk3.case.safetensors") + " --out " + test::temp_dir() + "/g.safetensors";
  expect_refused(worldloop(gen + " --seed -1"), {"--seed needs an integer >= 0"}, "generate --seed -1");
  for (const char* t : {"0", "-1"})
    expect_refused(worldloop(std::string("bench world --threads ") + t),
                   {std::string("--threads must be 1..256, got ") + t}, std::string("bench --threads ") + t);
  const std::string actions = test::temp_dir() + "/actions.json";
  std::ofstream(actions) << R"([{"frame": 1e30, "keys": ["forward"]}])";
  expect_refused(worldloop(play(dir, "--actions " + actions)), {"must be a whole frame number in 0..2^40, got 1e+30"},
                 "action frame 1e30");
  expect_refused(worldloop("play --frames 3", "env DISPLAY=:77 WAYLAND_DISPLAY="),
                 {"no display: cannot open DISPLAY ':77'"}, "DISPLAY=:77");
}

// --out, --record and --screenshot never write through a symlink or over a
// device: /dev/null (as root) and a symlink's target used to be replaced.
TEST(HardeningOutputs, SymlinksAndDevicesAreNotReplaced) {
  const std::string dir = test::temp_dir();
  const std::string target = dir + "/precious.txt";
  std::ofstream(target) << "keep me";
  for (const char* name : {"/out.safetensors", "/rec.y4m", "/shot.png"}) fs::create_symlink(target, dir + name);
  const std::string gen = "generate --weights " + test::data_path("chunk3.weights.safetensors") + " --noise " +
                          test::data_path("chunk3.case.safetensors");
  expect_refused(worldloop(gen + " --out " + dir + "/out.safetensors"),
                 {dir + "/out.safetensors", "exists and is a symlink; not replacing it"}, "--out symlink");
  expect_refused(worldloop(gen + " --out /dev/null"), {"/dev/null", "is a device or special file"}, "--out /dev/null");
  expect_refused(worldloop("play --model test-pattern --headless --frames 3 --record " + dir + "/rec.y4m"),
                 {dir + "/rec.y4m", "exists and is a symlink"}, "--record symlink");
  expect_refused(worldloop("play --model test-pattern --frames 3 --screenshot " + dir + "/shot.png"),
                 {dir + "/shot.png", "exists and is a symlink"}, "--screenshot symlink");
  std::ifstream in(target);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}), "keep me");
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  // A regular file is replaced as before, in one rename (no .tmp left behind).
  const std::string out = dir + "/plain.safetensors";
  std::ofstream(out) << "old";
  ASSERT_EQ(worldloop(gen + " --out " + out).rc, 0);
  EXPECT_GT(fs::file_size(out), 100u);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

// A safetensors file with its JSON header changed by `edit` (data untouched).
void rewrite_header(const std::string& from, const std::string& to, const std::function<void(nlohmann::json&)>& edit) {
  std::ifstream in(from, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n));
  edit(h);
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t len = text.size();
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << text << bytes.substr(8 + n);
}

// A case asking for 1e9 cache frames ended in a bare out-of-memory; a DiT
// config with eps -1 played NaN.
TEST(HardeningInputs, CaseAndConfigNumbersAreBounded) {
  const std::string dir = test::temp_dir();
  rewrite_header(test::data_path("chunk3.case.safetensors"), dir + "/big.case.safetensors",
                 [](nlohmann::json& h) { h["__metadata__"]["cache_frames"] = "1000000000"; });
  const std::string w = test::data_path("chunk3.weights.safetensors");
  expect_refused(worldloop("dit-replay --weights " + w + " --calls " + dir + "/big.case.safetensors --out " + dir +
                           "/o.safetensors"),
                 {dir + "/big.case.safetensors", "cache_frames 1000000000", "must be 1..4096"}, "cache_frames 1e9");
  expect_refused(worldloop("generate --weights " + w + " --noise " + dir + "/big.case.safetensors --out " + dir +
                           "/o.safetensors"),
                 {"metadata 'cache_frames'", "must be in 1..4096"}, "generate cache_frames 1e9");
  const std::string pkg = package();
  rewrite_header(pkg + "/dit.safetensors", pkg + "/dit.safetensors", [](nlohmann::json& h) {
    nlohmann::json config = nlohmann::json::parse(h["__metadata__"]["config"].get<std::string>());
    config["eps"] = -1;
    h["__metadata__"]["config"] = config.dump();
  });
  expect_refused(worldloop(play(pkg)), {"dit.safetensors", "eps must be in (0, 1], got -1"}, "eps -1");
}

// --max-memory: a budget whose memory plan exceeds it is refused before
// anything is allocated, with the numbers; a size that is no size is named.
TEST(HardeningInputs, MaxMemoryIsCheckedBeforeAllocating) {
  const std::string dir = package();
  expect_refused(worldloop(play(dir, "--max-memory 1M")), {"the model needs", "more than --max-memory 1.0 MiB"},
                 "--max-memory 1M");
  expect_refused(worldloop(play(dir, "--max-memory lots")), {"--max-memory must be a size", "'lots'"},
                 "--max-memory lots");
  EXPECT_EQ(worldloop(play(dir, "--max-memory 4G")).rc, 0);
  const std::string w = test::data_path("chunk3.weights.safetensors");
  const std::string out = test::temp_dir() + "/o.safetensors";
  expect_refused(worldloop("generate --weights " + w + " --noise " + test::data_path("chunk3.case.safetensors") +
                           " --out " + out + " --max-memory 1M"),
                 {"more than --max-memory 1.0 MiB", "lower --budget-frames"}, "generate --max-memory 1M");
  expect_refused(worldloop("dit-replay --weights " + w + " --calls " + test::data_path("chunk3.case.safetensors") +
                           " --out " + out + " --max-memory 1M"),
                 {"more than --max-memory 1.0 MiB"}, "dit-replay --max-memory 1M");
}

// The play config and the action script: a FIFO used to block forever and
// /dev/zero to read until memory ran out; duplicate keys were taken.
TEST(HardeningInputs, ConfigAndActionFilesAreCheckedBeforeReading) {
  const std::string dir = test::temp_dir();
  ASSERT_EQ(::mkfifo((dir + "/config.json").c_str(), 0600), 0);
  ASSERT_EQ(::mkfifo((dir + "/actions.json").c_str(), 0600), 0);
  std::ofstream(dir + "/dup.json") << R"({"presets": ["a"], "presets": ["b"]})";
  const std::string base = "play --model test-pattern --headless --frames 3 ";
  expect_refused(worldloop(base + "--config " + dir + "/config.json"),
                 {dir + "/config.json", "the play config is a FIFO"}, "FIFO config");
  expect_refused(worldloop(base + "--config " + dir + "/dup.json"), {dir + "/dup.json", "'presets' appears twice"},
                 "duplicate config key");
  expect_refused(worldloop(base + "--actions " + dir + "/actions.json"),
                 {dir + "/actions.json", "the action script is a FIFO"}, "FIFO actions");
  expect_refused(worldloop(base + "--actions /dev/zero"), {"/dev/zero", "is a character device"}, "/dev/zero actions");
  // A config that is valid JSON but no object used to mean "the defaults".
  std::ofstream(dir + "/array.json") << "[1, 2]";
  expect_refused(worldloop(base + "--config " + dir + "/array.json"), {dir + "/array.json", "must be a JSON object"},
                 "config that is an array");
  // text-encode's case file was read with no type check: a FIFO blocked forever.
  ASSERT_EQ(::mkfifo((dir + "/case.safetensors").c_str(), 0600), 0);
  expect_refused(worldloop("text-encode --weights " + test::data_path("umt5_tiny.weights.safetensors") + " --case " +
                           dir + "/case.safetensors --out " + dir + "/o.safetensors"),
                 {dir + "/case.safetensors", "the case file is a FIFO"}, "FIFO case file");
}

// The config's default_prompt used to be overwritten by the world's first
// preset: it now wins when it names a prompt; empty means the world's.
TEST(HardeningInputs, ConfigDefaultPromptIsHonoured) {
  struct WithPresets final : app::FrameSource {
    app::FrameFormat format() const override { return {4, 4}; }
    int chunk_frames() const override { return 1; }
    double nominal_fps() const override { return 30; }
    void reset(uint64_t, const std::string&) override {}
    void set_prompt(const std::string&) override {}
    std::vector<std::string> presets() const override { return {"world's first", "world's second"}; }
    app::ChunkStats next_chunk(const app::ChunkRequest&, std::vector<uint8_t>&) override { return {}; }
  } source;
  app::PlayConfig config = app::PlayConfig::defaults();
  EXPECT_EQ(app::with_source_presets(config, source).default_prompt, "world's first");
  config.default_prompt = "lava night";
  const app::PlayConfig out = app::with_source_presets(config, source);
  EXPECT_EQ(out.default_prompt, "lava night");
  EXPECT_EQ(out.presets.front(), "world's first");
}

// OMP_NUM_THREADS=100000 used to crash OpenMP (SIGSEGV): clamped, with a warning.
TEST(HardeningInputs, HugeOmpNumThreadsIsClamped) {
  const std::string dir = package();
  const RunResult r = worldloop("play --model " + dir + " --headless --frames 3", "env OMP_NUM_THREADS=100000");
  EXPECT_EQ(r.rc, 0) << r.all;
  EXPECT_NE(r.all.find("OMP_NUM_THREADS=100000 is more than this machine's"), std::string::npos) << r.all;
}

// --record OUT.Y4M is a y4m file (it used to become a directory of PNGs).
TEST(HardeningInputs, RecordingExtensionIsCaseInsensitive) {
  const std::string out = test::temp_dir() + "/OUT.Y4M";
  ASSERT_EQ(worldloop("play --model test-pattern --headless --frames 3 --record " + out).rc, 0);
  ASSERT_TRUE(fs::is_regular_file(out));
  std::ifstream in(out, std::ios::binary);
  std::string head(9, '\0');
  in.read(head.data(), 9);
  EXPECT_EQ(head, "YUV4MPEG2");
  expect_refused(worldloop("play --model test-pattern --headless --frames 3 --record " + test::temp_dir() + "/x.avi"),
                 {"x.avi", "give a directory (PNGs), FILE.y4m or FILE.mp4"}, ".avi");
}

// SIGINT or SIGTERM during a headless recording: the y4m holds whole frames
// only, a summary line says what happened, and the exit code is 128 + signal.
TEST(HardeningInputs, HeadlessRecordingSurvivesSigintAndSigterm) {
  for (const int sig : {SIGINT, SIGTERM}) {
    const std::string dir = test::temp_dir();
    const std::string out = dir + "/rec.y4m", log = dir + "/log.txt";
    const std::string cmd = std::string(WL_WORLDLOOP_EXE) + " play --model test-pattern --headless --frames 1000000 --record " +
                            out + " 2>" + log;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Wait until some frames are on disk, then signal.
    for (int i = 0; i < 1200 && (!fs::exists(out) || fs::file_size(out) < 200000); ++i) ::usleep(50000);
    ASSERT_EQ(::kill(pid, sig), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "ended by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    std::ifstream in(out, std::ios::binary);
    const std::string y4m((std::istreambuf_iterator<char>(in)), {});
    const size_t header = y4m.find('\n') + 1;
    const size_t frame = 6 + 320 * 240 * 3 / 2;
    ASSERT_GT(y4m.size(), header + frame);
    EXPECT_EQ((y4m.size() - header) % frame, 0u) << "a cut-off frame at the end";
    std::ifstream l(log);
    const std::string text((std::istreambuf_iterator<char>(l)), {});
    EXPECT_NE(text.find(sig == SIGINT ? "stopped by SIGINT after" : "stopped by SIGTERM after"), std::string::npos)
        << text;
  }
}

// Quitting the window early (here SIGTERM, which SDL turns into a quit as it
// does SIGINT; a background job of sh ignores SIGINT) still writes --screenshot. The signal goes once frames are being made (the
// recording's tenth PNG exists), so a loaded machine cannot quit it before
// the window is up.
TEST(HardeningInputs, WindowQuitEarlyStillWritesTheScreenshot) {
  if (std::system("command -v xvfb-run >/dev/null 2>&1") != 0) GTEST_SKIP() << "xvfb-run not installed";
  const std::string dir = test::temp_dir();
  const std::string shot = dir + "/early.png", script = dir + "/quit_early.sh";
  std::ofstream(script) << "#!/bin/sh\n"
                        << WL_WORLDLOOP_EXE << " play --model test-pattern --screenshot " << shot << " --record "
                        << dir << "/rec &\n"
                        << "pid=$!\n"
                        << "for i in $(seq 600); do [ -e " << dir << "/rec/frame_000010.png ] && break; sleep 0.1; done\n"
                        << "kill -TERM $pid\n"
                        << "wait $pid\n";
  const std::string cmd = "timeout 120 xvfb-run -a -s '-screen 0 1280x720x24' sh " + script + " >/dev/null 2>&1";
  std::system(cmd.c_str());
  ASSERT_TRUE(fs::exists(dir + "/rec/frame_000010.png")) << "the window never made frames";
  ASSERT_TRUE(fs::exists(shot)) << "no screenshot after an early quit";
  EXPECT_GT(fs::file_size(shot), 1000u);
}

// --- devices and drivers ------------------------------------------------------

TEST(HardeningDevices, CudaReasonsSayWhatIsWrongAndWhatToDo) {
  cuda::DeviceProbe none;  // no driver at all: cudart calls it "insufficient driver"
  none.runtime_version = 13000;
  none.count_failed = true;
  none.error_name = "cudaErrorInsufficientDriver";
  EXPECT_EQ(cuda::describe_cuda_unavailable(none), "no CUDA device: no NVIDIA driver is installed (libcuda.so.1 was not found)");
  EXPECT_FALSE(cuda::cuda_problem_worth_a_warning(none));

  cuda::DeviceProbe old = none;
  old.driver_version = 12040;
  EXPECT_EQ(cuda::describe_cuda_unavailable(old),
            "no CUDA device: the NVIDIA driver supports CUDA 12.4 but this build needs CUDA 13.0 (update the driver)");
  EXPECT_TRUE(cuda::cuda_problem_worth_a_warning(old));

  cuda::DeviceProbe no_gpu = old;
  no_gpu.driver_version = 13010;
  no_gpu.error_name = "cudaErrorNoDevice";
  EXPECT_EQ(cuda::describe_cuda_unavailable(no_gpu), "no CUDA device: the NVIDIA driver (CUDA 13.1) sees no GPU");

  cuda::DeviceProbe broken = no_gpu;
  broken.error_name = "cudaErrorSystemNotReady";
  broken.error_string = "system not yet initialized";
  EXPECT_NE(cuda::describe_cuda_unavailable(broken).find("failed: system not yet initialized (cudaErrorSystemNotReady)"),
            std::string::npos);

  cuda::DeviceProbe fine;
  fine.driver_version = fine.runtime_version = 13000;
  fine.device_count = 1;
  EXPECT_EQ(cuda::describe_cuda_unavailable(fine), "");
  EXPECT_FALSE(cuda::cuda_problem_worth_a_warning(fine));
}

// The defect: every run printed "no CUDA device: CUDA driver version is
// insufficient ..." although --backend auto (play's default) asked for nothing.
TEST(HardeningDevices, AutoBackendSaysNothingWithoutADriver) {
  if (ops::backend_available(Backend::CUDA)) GTEST_SKIP() << "this machine has a CUDA device";
  if (ops::backend_unavailable_is_a_problem(Backend::CUDA))
    GTEST_SKIP() << "a CUDA driver is installed but unusable, which is worth its line: "
                 << ops::backend_unavailable_reason(Backend::CUDA);
  const RunResult r = worldloop(play(package()));
  ASSERT_EQ(r.rc, 0) << r.all;
  EXPECT_EQ(r.all.find("CUDA"), std::string::npos) << r.all;
}

TEST(HardeningDevices, AskingForCudaWithoutADeviceIsOneLine) {
  if (ops::backend_available(Backend::CUDA)) GTEST_SKIP() << "this machine has a CUDA device";
  const std::string dir = package();
  for (const std::string& args : {play(dir, "--backend cuda"),
                                  "generate --weights " + test::data_path("chunk3.weights.safetensors") + " --noise " +
                                      test::data_path("chunk3.case.safetensors") + " --out " + test::temp_dir() +
                                      "/g.safetensors --backend cuda"}) {
    const RunResult r = worldloop(args);
    expect_refused(r, {"--backend cuda: no CUDA device: ", "use --backend cpu or auto"}, args);
    EXPECT_EQ(r.all.find('\n'), r.all.size() - 1) << "more than one line:\n" << r.all;
  }
}

TEST(HardeningDevices, VulkanDriverReasonsNameTheCause) {
  render::VulkanDriverFacts f;
  f.folders = "/usr/share/vulkan/icd.d";
  EXPECT_EQ(render::describe_vulkan_driver_problem(f, ""),
            "no Vulkan driver: none is installed (no manifest in /usr/share/vulkan/icd.d); install mesa-vulkan-drivers "
            "for lavapipe, a CPU implementation, or your GPU's driver");
  f.installed = {"lvp_icd.x86_64.json"};
  EXPECT_NE(render::describe_vulkan_driver_problem(f, "x").find("none of the installed drivers (lvp_icd.x86_64.json) "
                                                                "loads and starts here"),
            std::string::npos);
  f.override_variable = "VK_ICD_FILENAMES";
  f.override_value = "/nowhere.json";
  const std::string s = render::describe_vulkan_driver_problem(f, "vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER");
  EXPECT_NE(s.find("VK_ICD_FILENAMES='/nowhere.json' names no driver that loads and starts; unset it"), std::string::npos)
      << s;
  EXPECT_NE(s.find("(vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER)"), std::string::npos) << s;
}

TEST(HardeningDevices, ALostVulkanDeviceIsSaidPlainly) {
  try {
    render::vk_fail(VK_ERROR_DEVICE_LOST, "vkQueueSubmit(queue, 1, &submit, fence)");
    FAIL() << "vk_fail returned";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("the Vulkan device was lost"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("vkQueueSubmit"), std::string::npos) << e.what();
  }
}

// A window whose Vulkan driver is missing or broken: exit 1 and one line that
// names the cause. The defect read "no Vulkan device found (install
// mesa-vulkan-drivers ...): Installed Vulkan doesn't implement the
// VK_KHR_surface extension" with mesa-vulkan-drivers installed.
TEST(HardeningDevices, BrokenVulkanDriversGiveOneLine) {
  if (std::system("command -v xvfb-run >/dev/null 2>&1") != 0) GTEST_SKIP() << "xvfb-run not installed";
  const std::string dir = test::temp_dir();
  // A manifest whose library exists but is no Vulkan driver, and one whose library is missing.
  const std::string not_a_driver = dir + "/zlib_icd.json", missing = dir + "/missing_icd.json";
  std::ofstream(not_a_driver) << R"({"file_format_version":"1.0.0","ICD":{"library_path":")"
                              << "/lib/x86_64-linux-gnu/libz.so.1" << R"(","api_version":"1.3.0"}})";
  std::ofstream(missing) << R"({"file_format_version":"1.0.0","ICD":{"library_path":")" << dir
                         << R"(/libnothing.so","api_version":"1.3.0"}})";
  for (const std::string& icd : {std::string("/nonexistent"), not_a_driver, missing}) {
    const RunResult r = worldloop("play --model test-pattern --frames 3", "VK_ICD_FILENAMES=" + icd,
                                  "xvfb-run -a -s '-screen 0 640x480x24'");
    expect_refused(r, {"no Vulkan driver: VK_ICD_FILENAMES='" + icd + "' names no driver"}, icd);
  }
}

}  // namespace
}  // namespace wl
