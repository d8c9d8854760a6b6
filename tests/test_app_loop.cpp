// The real-time loop without a window: a scripted input sequence goes through
// the input queue to the model thread, which must hand every frame the keys
// held for it and switch prompts exactly at chunk boundaries.
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/loop/action_script.h"
#include "app/loop/frame_mailbox.h"
#include "app/loop/input_queue.h"
#include "app/sources/test_pattern_source.h"
#include "app/loop/world_loop.h"

namespace wl::app {
namespace {

// Logs what the loop asked of it; frames carry their world index in pixel 0.
class RecordingSource final : public FrameSource {
 public:
  struct FrameLog {
    int64_t world_frame;
    uint32_t keys;
    std::string prompt;
  };
  struct PromptSwitch {
    int64_t at_frame;  // first frame of the chunk made under the new prompt
    std::string prompt;
  };

  explicit RecordingSource(int chunk) : chunk_(chunk) {}
  FrameFormat format() const override { return {4, 2}; }
  int chunk_frames() const override { return chunk_; }
  double nominal_fps() const override { return 1000.0; }
  void reset(uint64_t seed, const std::string& prompt) override {
    std::lock_guard<std::mutex> lock(mu_);
    prompt_ = prompt;
    resets.push_back(seed);
  }
  void set_prompt(const std::string& prompt) override {
    std::lock_guard<std::mutex> lock(mu_);
    prompt_ = prompt;
    pending_switch_ = true;
  }
  std::string set_cache(const std::string& policy, int64_t budget_frames) override {
    std::lock_guard<std::mutex> lock(mu_);
    cache_changes.push_back({next_frame_, policy + "/" + std::to_string(budget_frames)});
    return policy == "nope" ? "unknown cache policy 'nope'" : "";
  }
  ChunkStats next_chunk(const ChunkRequest& req, std::vector<uint8_t>& rgb) override {
    std::lock_guard<std::mutex> lock(mu_);
    next_frame_ = req.first_frame + static_cast<int64_t>(req.actions.size());
    if (pending_switch_) switches.push_back({req.first_frame, prompt_});
    pending_switch_ = false;
    rgb.assign(req.actions.size() * format().bytes(), 0);
    for (size_t i = 0; i < req.actions.size(); ++i) {
      frames.push_back({req.first_frame + static_cast<int64_t>(i), req.actions[i].keys, prompt_});
      rgb[i * format().bytes()] = static_cast<uint8_t>(req.first_frame + static_cast<int64_t>(i));
    }
    chunk_sizes.push_back(static_cast<int>(req.actions.size()));
    return {};
  }

  std::mutex mu_;
  std::vector<FrameLog> frames;
  std::vector<PromptSwitch> switches;
  std::vector<PromptSwitch> cache_changes;  // (first frame after the change, "policy/budget")
  std::vector<uint64_t> resets;
  std::vector<int> chunk_sizes;

 private:
  int chunk_;
  std::string prompt_;
  bool pending_switch_ = false;
  int64_t next_frame_ = 0;
};

InputEvent sample(int64_t frame, uint32_t keys) {
  InputEvent e;
  e.kind = InputEvent::Kind::Actions;
  e.time = Clock::now();
  e.frame = frame;
  e.actions.keys = keys;
  return e;
}

InputEvent prompt_at(int64_t frame, const std::string& text) {
  InputEvent e;
  e.kind = InputEvent::Kind::Prompt;
  e.time = Clock::now();
  e.frame = frame;
  e.text = text;
  return e;
}

// Keys a player holds: W for 10 frames, W + look-left for 10, nothing for 10,
// D for 10.
uint32_t scripted_keys(int64_t f) {
  if (f < 10) return kActForward;
  if (f < 20) return kActForward | kActLookLeft;
  if (f < 30) return 0;
  return kActRight;
}

std::vector<Frame> drain_frames(FrameMailbox& mailbox, int64_t n) {
  std::vector<Frame> out;
  while (static_cast<int64_t>(out.size()) < n) {
    auto f = mailbox.pop_next(Clock::now() + std::chrono::seconds(5));
    if (!f) break;
    out.push_back(std::move(*f));
  }
  return out;
}

TEST(AppLoop, ScriptedKeysReachEveryFrameAndPromptSwitchesAtChunkBoundary) {
  constexpr int kChunk = 4;
  constexpr int64_t kFrames = 40;
  RecordingSource source(kChunk);
  InputQueue inputs;
  FrameMailbox mailbox(FrameMailbox::Mode::Lossless, 8);
  WorldLoopOptions opt;
  opt.pacing = WorldLoopOptions::Pacing::Lockstep;
  opt.prompt = "summer meadow";
  opt.seed = 11;
  opt.max_frames = kFrames;
  WorldLoop loop(source, inputs, mailbox, opt);
  loop.start();

  // The "presenter": one sample per frame, the prompt typed while frame 21 shows.
  std::vector<Frame> frames;
  for (int64_t f = 0; f < kFrames; ++f) {
    if (f == 21) inputs.push(prompt_at(f, "snowy forest"));
    inputs.push(sample(f, scripted_keys(f)));
    // Take whatever is ready, as a presenter would, without waiting.
    while (auto fr = mailbox.pop_next(Clock::now())) frames.push_back(std::move(*fr));
  }
  for (Frame& f : drain_frames(mailbox, kFrames - static_cast<int64_t>(frames.size()))) frames.push_back(std::move(f));
  loop.stop();
  ASSERT_TRUE(loop.status().error.empty()) << loop.status().error;

  ASSERT_EQ(source.frames.size(), static_cast<size_t>(kFrames));
  for (int64_t f = 0; f < kFrames; ++f) {
    const auto& log = source.frames[static_cast<size_t>(f)];
    EXPECT_EQ(log.world_frame, f);
    EXPECT_EQ(log.keys, scripted_keys(f)) << "frame " << f << ": got " << describe_actions(log.keys);
    // Typed at frame 21, inside chunk [20, 24): takes effect at the next boundary, 24.
    EXPECT_EQ(log.prompt, f < 24 ? "summer meadow" : "snowy forest") << "frame " << f;
  }
  ASSERT_EQ(source.switches.size(), 1u);
  EXPECT_EQ(source.switches[0].at_frame, 24);
  EXPECT_EQ(source.switches[0].at_frame % kChunk, 0);
  for (int n : source.chunk_sizes) EXPECT_EQ(n, kChunk);

  // What reached the consumer: every frame once, in order, with its prompt and keys.
  ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
  for (int64_t f = 0; f < kFrames; ++f) {
    const Frame& fr = frames[static_cast<size_t>(f)];
    EXPECT_EQ(fr.seq, f);
    EXPECT_EQ(fr.chunk, f / kChunk);
    EXPECT_EQ(fr.pixels()[0], static_cast<uint8_t>(f));
    EXPECT_EQ(fr.actions.keys, scripted_keys(f));
    EXPECT_EQ(*fr.prompt, f < 24 ? "summer meadow" : "snowy forest");
  }
}

// A lockstep run whose length is not a whole number of chunks (12-frame chunks
// and 30 frames, as a pixel decoder gives) gets samples only up to its last
// frame; the last chunk must not wait for samples that never come.
TEST(AppLoop, LockstepRunEndingInsideAChunkFinishes) {
  RecordingSource source(12);
  InputQueue inputs;
  FrameMailbox mailbox(FrameMailbox::Mode::Lossless, 36);
  WorldLoopOptions opt;
  opt.pacing = WorldLoopOptions::Pacing::Lockstep;
  opt.max_frames = 30;
  WorldLoop loop(source, inputs, mailbox, opt);
  for (int64_t f = 0; f < 30; ++f) inputs.push(sample(f, 0));
  loop.start();
  const std::vector<Frame> frames = drain_frames(mailbox, 30);
  loop.stop();
  ASSERT_EQ(frames.size(), 30u);
  EXPECT_EQ(frames.back().seq, 29);
  EXPECT_EQ(source.chunk_sizes.size(), 3u);  // the third chunk is made whole, 6 of it shown
}

TEST(AppLoop, PromptStampedOnABoundaryAppliesToThatChunk) {
  RecordingSource source(3);
  InputQueue inputs;
  FrameMailbox mailbox(FrameMailbox::Mode::Lossless, 16);
  WorldLoopOptions opt;
  opt.pacing = WorldLoopOptions::Pacing::Lockstep;
  opt.prompt = "a";
  opt.max_frames = 12;
  WorldLoop loop(source, inputs, mailbox, opt);
  for (int64_t f = 0; f < 12; ++f) {
    if (f == 6) inputs.push(prompt_at(f, "b"));
    inputs.push(sample(f, 0));
  }
  loop.start();
  drain_frames(mailbox, 12);
  loop.stop();
  ASSERT_EQ(source.switches.size(), 1u);
  EXPECT_EQ(source.switches[0].at_frame, 6);
}

// A cache change from the overlay reaches the source between chunks, and the
// loop reports whether the source took it.
TEST(AppLoop, CacheChangesApplyBetweenChunksWithANotice) {
  RecordingSource source(3);
  InputQueue inputs;
  FrameMailbox mailbox(FrameMailbox::Mode::Lossless, 16);
  WorldLoopOptions opt;
  opt.pacing = WorldLoopOptions::Pacing::Lockstep;
  opt.prompt = "a";
  opt.max_frames = 12;
  WorldLoop loop(source, inputs, mailbox, opt);
  for (int64_t f = 0; f < 12; ++f) {
    if (f == 4) {
      InputEvent e;
      e.kind = InputEvent::Kind::Cache;
      e.time = Clock::now();
      e.frame = f;
      e.text = "future";
      e.budget_frames = 9;
      inputs.push(e);
    }
    inputs.push(sample(f, 0));
  }
  loop.start();
  drain_frames(mailbox, 12);
  loop.stop();
  ASSERT_EQ(source.cache_changes.size(), 1u);
  EXPECT_EQ(source.cache_changes[0].prompt, "future/9");
  EXPECT_EQ(source.cache_changes[0].at_frame % 3, 0);  // between chunks
  EXPECT_EQ(loop.status().notice, "cache: future, 9 frames");
}

TEST(AppLoop, ActionScriptKeysAndPromptsAreAppliedByFrame) {
  const ActionScript script = ActionScript::parse(R"([
    {"frame": 0, "keys": ["forward"]},
    {"frame": 5, "keys": ["forward", "look_right"]},
    {"frame": 7, "prompt": "lava night"},
    {"frame": 10, "keys": []}])");
  RecordingSource source(3);
  InputQueue inputs;
  FrameMailbox mailbox(FrameMailbox::Mode::Lossless, 16);
  WorldLoopOptions opt;
  opt.pacing = WorldLoopOptions::Pacing::Lockstep;
  opt.prompt = "meadow";
  opt.script = &script;
  opt.max_frames = 15;
  WorldLoop loop(source, inputs, mailbox, opt);
  for (int64_t f = 0; f < 15; ++f) inputs.push(sample(f, f == 12 ? static_cast<uint32_t>(kActBack) : 0u));  // live input ORs in
  loop.start();
  drain_frames(mailbox, 15);
  loop.stop();
  ASSERT_EQ(source.frames.size(), 15u);
  for (int64_t f = 0; f < 15; ++f) {
    uint32_t want = f < 5 ? kActForward : f < 10 ? (kActForward | kActLookRight) : 0;
    if (f == 12) want |= kActBack;
    EXPECT_EQ(source.frames[static_cast<size_t>(f)].keys, want) << "frame " << f;
    EXPECT_EQ(source.frames[static_cast<size_t>(f)].prompt, f < 9 ? "meadow" : "lava night") << "frame " << f;
  }
}

TEST(AppLoop, PauseStopsTheWorldAndStepMakesOneChunk) {
  RecordingSource source(2);
  InputQueue inputs;
  FrameMailbox mailbox(FrameMailbox::Mode::Newest, 16);
  WorldLoopOptions opt;
  opt.pacing = WorldLoopOptions::Pacing::RealTime;
  opt.start_paused = true;
  WorldLoop loop(source, inputs, mailbox, opt);
  loop.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(loop.status().frames_made, 0);
  InputEvent step;
  step.kind = InputEvent::Kind::Step;
  inputs.push(step);
  for (int i = 0; i < 100 && loop.status().frames_made < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(loop.status().frames_made, 2);
  EXPECT_TRUE(loop.status().paused);
  loop.stop();
}

TEST(AppLoop, RealTimeSpreadsSamplesOverTheChunkWithoutLosingTaps) {
  // Five samples queued before one chunk of 2 frames: frame 0 gets the union
  // of the first two (a one-sample tap of S included), frame 1 the last three.
  RecordingSource source(2);
  InputQueue inputs;
  FrameMailbox mailbox(FrameMailbox::Mode::Newest, 16);
  const uint32_t seq[] = {kActForward, kActBack, kActForward, kActForward, kActLeft};
  for (uint32_t k : seq) inputs.push(sample(0, k));
  WorldLoopOptions opt;
  opt.pacing = WorldLoopOptions::Pacing::RealTime;
  opt.max_frames = 2;
  WorldLoop loop(source, inputs, mailbox, opt);
  loop.start();
  for (int i = 0; i < 200 && loop.status().frames_made < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  loop.stop();
  ASSERT_EQ(source.frames.size(), 2u);
  EXPECT_EQ(source.frames[0].keys, kActForward | kActBack);
  EXPECT_EQ(source.frames[1].keys, kActForward | kActLeft);
}

TEST(AppLoop, NewestMailboxKeepsTheNewestDueFrame) {
  FrameMailbox mailbox(FrameMailbox::Mode::Newest, 4);
  const auto t0 = Clock::now();
  std::vector<Frame> frames(6);
  for (int i = 0; i < 6; ++i) {
    frames[static_cast<size_t>(i)].seq = i;
    frames[static_cast<size_t>(i)].due = t0 + std::chrono::milliseconds(10 * i);
  }
  mailbox.publish(frames);  // capacity 4: frames 0 and 1 are dropped
  auto f = mailbox.take_due(t0 + std::chrono::milliseconds(35));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->seq, 3);  // 2 and 3 are due; 3 is the newest
  EXPECT_FALSE(mailbox.take_due(t0 + std::chrono::milliseconds(35)));
  EXPECT_EQ(mailbox.dropped(), 3);
  EXPECT_EQ(mailbox.pending(), 2u);
}

TEST(AppLoop, TestPatternDependsOnActionsPromptAndSeed) {
  TestPatternSource a, b;
  std::vector<uint8_t> fa, fb;
  const std::vector<FrameActions> still(3), forward(3, FrameActions{kActForward});
  a.reset(1, "summer meadow");
  b.reset(1, "summer meadow");
  a.next_chunk({0, still}, fa);
  b.next_chunk({0, still}, fb);
  EXPECT_EQ(fa, fb);  // deterministic
  a.next_chunk({3, forward}, fa);
  b.next_chunk({3, still}, fb);
  EXPECT_NE(fa, fb);  // actions move the camera
  b.reset(1, "lava night");
  a.reset(1, "summer meadow");
  a.next_chunk({0, still}, fa);
  b.next_chunk({0, still}, fb);
  EXPECT_NE(fa, fb);  // the prompt changes the colours
  const ChunkStats stats = a.next_chunk({3, still}, fa);
  EXPECT_FALSE(stats.cache.empty());
  EXPECT_EQ(stats.cache.slots.size(), static_cast<size_t>(stats.cache.blocks) * stats.cache.frames.size());
  ASSERT_FALSE(stats.cache.token_scores.back().empty());
}

}  // namespace
}  // namespace wl::app
