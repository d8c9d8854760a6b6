// Saved world states (runtime/core/state_file.h): a world saved after some
// chunks and loaded into a fresh session continues bit for bit as the
// original did, in frame-wise, chunk-wise and rolling modes and under every
// cache policy, across a prompt switch, and through the command line
// (`play --save-state-at K FILE`, `play --load FILE`) with K inside a chunk.
// A state of another world, another format version, or a truncated or
// garbled file is refused with an error naming the file, never a crash.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "app/loop/world_loop.h"
#include "app/sources/world_source.h"
#include "cache/cache_policy.h"
#include "runtime/core/error.h"
#include "runtime/core/state_file.h"
#include "runtime/model/published_model.h"
#include "runtime/model/world.h"
#include "runtime/model/world_session.h"
#include "tests/support/golden.h"
#include "tests/support/tiny_published_model.h"

namespace wl {
namespace {
namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("worldloop-state-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The shipped world with its world.json edited by `edit` (a chunk-wise copy).
fs::path edited_default_world(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const fs::path dir = scratch(name);
  for (const auto& e : fs::directory_iterator(default_world_dir()))
    fs::copy_file(e.path(), dir / e.path().filename());
  nlohmann::json j = nlohmann::json::parse(read_all(dir / "world.json"));
  edit(j);
  std::ofstream(dir / "world.json") << j.dump(2);
  return dir;
}

std::vector<FrameActions> keys_for(int64_t chunk, int64_t frames) {
  std::vector<FrameActions> a(static_cast<size_t>(frames));
  for (int64_t f = 0; f < frames; ++f) a[f].keys = ((chunk * frames + f) / 4) % 2 ? kActForward : kActLookLeft;
  return a;
}

// Runs `before` chunks, saves, runs `after` more (with a prompt switch at
// `switch_at` chunks after the save, -1: none); then a session loaded from
// the file runs the same `after` chunks. Returns how many latents differ.
int64_t continue_after_load(World& world, const WorldSessionOptions& options, int before, int after, int switch_at,
                            const fs::path& file) {
  const int64_t chunk = world.description().chunk;
  WorldSession original(world, options, 11, "a summer meadow");
  for (int c = 0; c < before; ++c) original.next_chunk(keys_for(c, chunk));
  StateWriter out;
  original.save_state(out);
  out.write(file.string());
  std::vector<std::vector<float>> want;
  for (int c = 0; c < after; ++c) {
    if (c == switch_at) original.set_prompt("a snowy forest");
    want.push_back(original.next_chunk(keys_for(before + c, chunk)).to_floats());
  }
  WorldSession loaded(world, StateReader::open(file.string()));
  EXPECT_EQ(loaded.seed(), 11u);
  int64_t differ = 0;
  for (int c = 0; c < after; ++c) {
    if (c == switch_at) loaded.set_prompt("a snowy forest");
    const std::vector<float> got = loaded.next_chunk(keys_for(before + c, chunk)).to_floats();
    EXPECT_EQ(got.size(), want[c].size());
    for (size_t i = 0; i < got.size() && i < want[c].size(); ++i) differ += got[i] != want[c][i];
  }
  return differ;
}

TEST(WorldState, EveryPolicyContinuesBitForBitFrameWise) {
  const fs::path dir = scratch("framewise");
  auto world = World::open(default_world_dir());
  ASSERT_EQ(world->description().chunk, 1);
  for (const std::string& policy : cache::policy_names()) {
    WorldSessionOptions o;
    o.policy = policy;
    o.budget_frames = 5;  // 3 start frames + 12 chunks overflow it: every policy evicts (and "future" merges)
    EXPECT_EQ(continue_after_load(*world, o, 12, 10, 4, dir / (policy + ".state")), 0) << policy;
  }
  fs::remove_all(dir);
}

TEST(WorldState, EveryPolicyContinuesBitForBitChunkWise) {
  const fs::path pkg = edited_default_world("chunkwise-pkg", [](nlohmann::json& j) {
    j["sampler"]["chunk"] = 3;
    j["cache"]["budget_frames"] = 9;
    j["cache"]["sink_frames"] = 3;
  });
  auto world = World::open(pkg.string());
  for (const std::string& policy : cache::policy_names()) {
    WorldSessionOptions o;
    o.policy = policy;
    EXPECT_EQ(continue_after_load(*world, o, 5, 5, 2, pkg / (policy + ".state")), 0) << policy;
  }
  fs::remove_all(pkg);
}

// A tiny Rolling Forcing model (as in test_published_model.cpp): the state
// is saved while the window holds partly denoised chunks.
TEST(WorldState, RollingWindowContinuesBitForBit) {
  const fs::path dir = scratch("rolling");
  testref::write_tiny_published_files(dir.string(), "rolling.safetensors");
  std::ofstream(dir / "model.json") << R"({"family": "rolling_forcing",
    "files": {"dit": "rolling.safetensors", "text_encoder": "models_t5_umt5-xxl-enc-bf16.safetensors",
              "tokenizer": "google/umt5-xxl/spiece.model"},
    "video": {"width": 64, "height": 48}})";
  PublishedModelOptions options;
  options.text_cache_dir = "";
  auto world = open_published_model(dir.string(), options);
  ASSERT_EQ(world->description().mode, SamplerMode::Rolling);
  for (const char* policy : {"full", "sink"}) {
    WorldSessionOptions o;
    o.policy = policy;
    o.budget_frames = 12;
    EXPECT_EQ(continue_after_load(*world, o, 3, 6, 2, dir / "rolling.state"), 0) << policy;
  }
  fs::remove_all(dir);
}

std::string load_error(World& world, const std::string& path) {
  try {
    WorldSession s(world, StateReader::open(path));
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

TEST(WorldState, RefusesAnotherWorldOrVersionByName) {
  const fs::path dir = scratch("refuse");
  auto world = World::open(default_world_dir());
  WorldSession s(*world, {}, 3, "a summer meadow");
  s.next_chunk(keys_for(0, 1));
  StateWriter out;
  s.save_state(out);
  const std::string file = (dir / "a.state").string();
  out.write(file);
  EXPECT_EQ(load_error(*world, file), "");

  const fs::path other = edited_default_world("refuse-pkg", [](nlohmann::json& j) { j["sampler"]["shift"] = 3.0; });
  auto another = World::open(other.string());
  EXPECT_NE(another->identity(), world->identity());
  const std::string err = load_error(*another, file);
  EXPECT_NE(err.find(file), std::string::npos) << err;
  EXPECT_NE(err.find("identity " + world->identity()), std::string::npos) << err;

  // Another format version, another kind of file.
  std::string bytes = read_all(file);
  const size_t at = bytes.find("\"version\":\"1\"");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 11] = '2';
  std::ofstream(dir / "v2.state", std::ios::binary) << bytes;
  EXPECT_NE(load_error(*world, (dir / "v2.state").string()).find("format version 2"), std::string::npos);
  EXPECT_NE(load_error(*world, test::data_path("umt5_tiny.weights.safetensors")).find("not a worldloop world state"),
            std::string::npos);
  fs::remove_all(dir);
  fs::remove_all(other);
}

// Every truncation and a few hundred random byte changes of a state: each is
// refused with wl::Error or loads (a changed float), never a crash or a hang.
TEST(WorldState, TruncatedOrGarbledStatesAreRefusedNotCrashed) {
  const fs::path dir = scratch("garble");
  const fs::path pkg = edited_default_world("garble-pkg", [](nlohmann::json& j) {
    j["cache"]["budget_frames"] = 4;
    j["cache"]["policy"] = "future";
  });
  auto world = World::open(pkg.string());
  WorldSession s(*world, {}, 3, "a summer meadow");
  for (int c = 0; c < 4; ++c) s.next_chunk(keys_for(c, 1));
  StateWriter out;
  s.save_state(out);
  out.write((dir / "good.state").string());
  const std::string good = read_all(dir / "good.state");
  const std::string bad = (dir / "bad.state").string();
  int refused = 0, loaded = 0;
  auto attempt = [&](const std::string& bytes) {
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << bytes;
    try {
      WorldSession w(*world, StateReader::open(bad));
      w.next_chunk(keys_for(4, 1));  // NaN from a changed float is caught here
      ++loaded;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.state"), std::string::npos) << e.what();
      ++refused;
    }
  };
  for (size_t n : {size_t{0}, size_t{7}, size_t{8}, size_t{100}, good.size() / 3, good.size() / 2, good.size() - 1})
    attempt(good.substr(0, n));
  // The JSON header is where the bookkeeping lives: change bytes there most.
  const size_t header = 8 + static_cast<size_t>(static_cast<uint8_t>(good[0])) + 256 * static_cast<uint8_t>(good[1]) +
                        65536 * static_cast<uint8_t>(good[2]);
  std::mt19937 rng(5);
  for (int i = 0; i < 300; ++i) {
    std::string g = good;
    const size_t at = i % 3 ? rng() % header : rng() % g.size();
    g[at] = static_cast<char>(rng() % 256);
    attempt(g);
  }
  EXPECT_EQ(refused + loaded, 307);
  EXPECT_GE(refused, 7);  // the truncations at least
  fs::remove_all(dir);
  fs::remove_all(pkg);
}

int run(const std::string& cmd) {
  const int rc = std::system((cmd + " 2>/dev/null").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::vector<std::string> y4m_frames(const fs::path& p) {
  const std::string d = read_all(p);
  std::vector<std::string> frames;
  size_t at = d.find('\n');
  while (at != std::string::npos && at + 1 < d.size()) {
    const size_t body = d.find('\n', at + 1);
    if (body == std::string::npos) break;
    const size_t next = d.find("FRAME", body + 1);
    frames.push_back(d.substr(body + 1, (next == std::string::npos ? d.size() : next) - body - 1));
    at = next == std::string::npos ? next : next - 1;
  }
  return frames;
}

// The acceptance's commands, on a chunk-wise copy of the shipped world, with
// the save point inside a chunk: b's frames are a's frames K+1..N.
TEST(WorldState, PlaySaveStateAtAndLoadContinueTheRecording) {
  const fs::path pkg = edited_default_world("cli-pkg", [](nlohmann::json& j) {
    j["sampler"]["chunk"] = 3;
    j["cache"]["budget_frames"] = 7;
  });
  const fs::path script = pkg / "actions.json";
  std::ofstream(script) << R"([{"frame": 0, "keys": ["forward"]}, {"frame": 16, "keys": ["look_left"]},
                                {"frame": 20, "prompt": "a snowy forest"}, {"frame": 26, "keys": []}])";
  const std::string play = std::string(WL_WORLDLOOP_EXE) + " play --headless --model " + pkg.string() +
                           " --config " + (pkg / "config.json").string() + " --actions " + script.string();
  const int n = 33, k = 14;  // 14 is inside the chunk [12, 15)
  ASSERT_EQ(run(play + " --seed 9 --frames " + std::to_string(n) + " --save-state-at " + std::to_string(k) + " " +
                (pkg / "s.state").string() + " --record " + (pkg / "a.y4m").string()),
            0);
  ASSERT_EQ(run(play + " --load " + (pkg / "s.state").string() + " --frames " + std::to_string(n - k) +
                " --record " + (pkg / "b.y4m").string()),
            0);
  const std::vector<std::string> a = y4m_frames(pkg / "a.y4m"), b = y4m_frames(pkg / "b.y4m");
  ASSERT_EQ(a.size(), static_cast<size_t>(n));
  ASSERT_EQ(b.size(), static_cast<size_t>(n - k));
  for (int i = 0; i < n - k; ++i) EXPECT_EQ(a[k + i], b[i]) << "frame " << k + i;
  EXPECT_NE(a[k], a[n - 1]);  // the world moved
  // --load with flags the state overrides, a save point past the run, a missing state.
  EXPECT_EQ(run(play + " --load " + (pkg / "s.state").string() + " --frames 3 --seed 2"), 1);
  EXPECT_EQ(run(play + " --frames 3 --save-state-at 5 " + (pkg / "late.state").string()), 1);
  EXPECT_FALSE(fs::exists(pkg / "late.state"));
  EXPECT_EQ(run(play + " --load " + (pkg / "missing.state").string() + " --frames 3"), 1);
  fs::remove_all(pkg);
}

// --record-inputs DIR then --replay DIR: the same frames byte for byte, with
// keys from a script, a prompt switch and a world continued from a state;
// a log of another world, a garbled log and flags the log fixes are refused.
TEST(WorldState, ReplayOfRecordedInputsIsByteIdentical) {
  const fs::path pkg = edited_default_world("replay-pkg", [](nlohmann::json& j) {
    j["sampler"]["chunk"] = 3;
    j["cache"]["budget_frames"] = 7;
    j["cache"]["policy"] = "future";
  });
  const fs::path script = pkg / "actions.json";
  std::ofstream(script) << R"([{"frame": 0, "keys": ["forward", "look_right"]}, {"frame": 10, "keys": ["left"]},
                                {"frame": 13, "prompt": "desert dunes"}, {"frame": 22, "keys": []}])";
  const std::string play = std::string(WL_WORLDLOOP_EXE) + " play --headless --config " +
                           (pkg / "config.json").string();
  const std::string model = " --model " + pkg.string();
  ASSERT_EQ(run(play + model + " --seed 4 --frames 27 --actions " + script.string() + " --record-inputs " +
                (pkg / "log").string() + " --record " + (pkg / "a.y4m").string()),
            0);
  ASSERT_EQ(run(play + " --replay " + (pkg / "log").string() + " --record " + (pkg / "c.y4m").string()), 0);
  const std::string a = read_all(pkg / "a.y4m");
  EXPECT_GT(a.size(), 27u * 64 * 64);
  EXPECT_EQ(read_all(pkg / "c.y4m"), a);
  // Only the first 10 frames.
  ASSERT_EQ(run(play + " --replay " + (pkg / "log").string() + " --frames 10 --record " + (pkg / "ten.y4m").string()), 0);
  const std::vector<std::string> all = y4m_frames(pkg / "a.y4m"), ten = y4m_frames(pkg / "ten.y4m");
  ASSERT_EQ(ten.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(ten[i], all[i]) << i;

  // From a saved state: the log remembers it, and the replay loads it.
  ASSERT_EQ(run(play + model + " --seed 4 --frames 8 --save-state-at 7 " + (pkg / "s.state").string()), 0);
  ASSERT_EQ(run(play + model + " --load " + (pkg / "s.state").string() + " --frames 12 --actions " + script.string() +
                " --record-inputs " + (pkg / "log2").string() + " --record " + (pkg / "b.y4m").string()),
            0);
  ASSERT_EQ(run(play + " --replay " + (pkg / "log2").string() + " --record " + (pkg / "d.y4m").string()), 0);
  EXPECT_EQ(read_all(pkg / "d.y4m"), read_all(pkg / "b.y4m"));

  EXPECT_EQ(run(play + " --replay " + (pkg / "log").string() + " --seed 3"), 1);
  EXPECT_EQ(run(play + " --replay " + (pkg / "log").string() + " --frames 28"), 1);
  EXPECT_EQ(run(std::string(WL_WORLDLOOP_EXE) + " play --replay " + (pkg / "log").string()), 1);  // needs --headless
  std::string log = read_all(pkg / "log" / "inputs.json");
  const size_t at = log.find("\"world\": \"");
  ASSERT_NE(at, std::string::npos);
  log[at + 10] = log[at + 10] == '0' ? '1' : '0';
  fs::create_directories(pkg / "other");
  std::ofstream(pkg / "other" / "inputs.json") << log;
  EXPECT_EQ(run(play + " --replay " + (pkg / "other").string()), 1);
  std::ofstream(pkg / "other" / "inputs.json") << log.substr(0, log.size() / 2);
  EXPECT_EQ(run(play + " --replay " + (pkg / "other").string()), 1);
  fs::remove_all(pkg);
}

// F5 and F8 in the window push SaveState and LoadState commands; the model
// thread applies them at a chunk boundary. Saved after 6 frames and loaded
// after 14, the frames that follow the load are the frames that followed
// the save (given the same keys), and a state that cannot be read is told
// as a notice while the world goes on.
TEST(WorldState, SaveAndLoadCommandsGoBackInTheSameSession) {
  const fs::path dir = scratch("commands");
  app::WorldSourceOptions wo;
  wo.dir = default_world_dir();
  wo.threads = 2;
  app::WorldSource source(wo);
  app::InputQueue inputs;
  app::FrameMailbox mailbox(app::FrameMailbox::Mode::Lossless, 64);
  app::WorldLoopOptions opt;
  opt.pacing = app::WorldLoopOptions::Pacing::Lockstep;
  opt.seed = 21;
  opt.prompt = "a snowy forest";
  opt.max_frames = 30;
  app::WorldLoop loop(source, inputs, mailbox, opt);
  const auto now = app::Clock::now();
  for (int64_t f = 0; f < 30; ++f) {
    app::InputEvent e;
    e.frame = f;
    e.time = now;
    // Frames 14.. get the keys frames 6.. got, so after the load they repeat them.
    e.actions.keys = (f >= 14 ? f - 8 : f) % 5 < 2 ? uint32_t{kActForward} : 0u;
    inputs.push(e);
  }
  auto command = [&](app::InputEvent::Kind kind, int64_t frame, const std::string& file) {
    app::InputEvent e;
    e.kind = kind;
    e.frame = frame;
    e.time = now;
    e.text = file;
    inputs.push(e);
  };
  const std::string file = (dir / "f5.state").string();
  command(app::InputEvent::Kind::SaveState, 6, file);
  command(app::InputEvent::Kind::LoadState, 10, (dir / "missing.state").string());
  command(app::InputEvent::Kind::LoadState, 14, file);
  loop.start();
  std::vector<std::vector<uint8_t>> frames;
  while (frames.size() < 30) {
    auto f = mailbox.pop_next(app::Clock::now() + std::chrono::seconds(30));
    ASSERT_TRUE(f) << loop.status().error;
    frames.emplace_back(f->pixels(), f->pixels() + f->format.bytes());
    if (f->seq == 12) {
      EXPECT_NE(loop.status().notice.find("load failed"), std::string::npos) << loop.status().notice;
    }
  }
  loop.stop();
  EXPECT_EQ(loop.status().error, "");
  EXPECT_EQ(loop.status().saved_state, file);
  EXPECT_NE(frames[6], frames[13]);  // the world had moved on before the load
  // Frames 6..13 were made before the load with the keys that 14..21 get after it.
  for (int i = 0; i < 8; ++i) EXPECT_EQ(frames[14 + i], frames[6 + i]) << "frame " << 14 + i;
  EXPECT_NE(frames[22], frames[14]);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace wl
