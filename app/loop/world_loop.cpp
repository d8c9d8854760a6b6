#include "app/loop/world_loop.h"

#include <algorithm>
#include <exception>

namespace wl::app {

namespace {
using Kind = InputEvent::Kind;
constexpr auto kPollSlice = std::chrono::milliseconds(50);
}  // namespace

WorldLoop::WorldLoop(FrameSource& source, InputQueue& inputs, FrameMailbox& mailbox, WorldLoopOptions options)
    : source_(source), inputs_(inputs), mailbox_(mailbox), opt_(std::move(options)) {
  status_.paused = opt_.start_paused;
  status_.seed = opt_.seed;
  status_.prompt = opt_.prompt;
}

WorldLoop::~WorldLoop() { stop(); }

void WorldLoop::set_chunk_hook(ChunkHook hook) { hook_ = std::move(hook); }

void WorldLoop::start() { thread_ = std::thread([this] { run(); }); }

void WorldLoop::stop() {
  stop_ = true;
  inputs_.close();
  mailbox_.close();
  if (thread_.joinable()) thread_.join();
}

WorldLoopStatus WorldLoop::status() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return status_;
}

void WorldLoop::run() {
  try {
    run_chunks();
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(status_mu_);
    status_.error = e.what();
  }
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    status_.finished = true;
  }
  mailbox_.close();
}

void WorldLoop::apply_command(const InputEvent& e) {
  if (opt_.input_log) opt_.input_log->record_command(seq_, e);
  std::lock_guard<std::mutex> lock(status_mu_);
  switch (e.kind) {
    case Kind::Prompt:
      if (e.text != *prompt_) {
        prompt_ = std::make_shared<const std::string>(e.text);
        source_.set_prompt(e.text);
        status_.prompt = e.text;
      }
      break;
    case Kind::Reset:
      source_.reset(e.seed, *prompt_);
      world_frame_ = 0;
      status_.seed = e.seed;
      break;
    case Kind::TogglePause:
      status_.paused = !status_.paused;
      if (!status_.paused) next_due_ = std::max(next_due_, Clock::now());
      break;
    case Kind::Step:
      ++step_budget_;
      break;
    case Kind::Cache: {
      const std::string err = source_.set_cache(e.text, e.budget_frames);
      status_.notice = err.empty() ? "cache: " + e.text + (e.budget_frames > 0 ? ", " + std::to_string(e.budget_frames) +
                                                                                   " frames" : std::string())
                                   : "cache change refused: " + err;
      break;
    }
    case Kind::SaveState:
    case Kind::LoadState:
    case Kind::Actions:
      break;  // states: run_chunks, outside this lock
  }
}

void WorldLoop::apply_script_prompts(int64_t upto) {
  if (!opt_.script || upto <= script_prompts_upto_) return;
  for (const std::string& p : opt_.script->prompts_between(script_prompts_upto_, upto)) {
    InputEvent e;
    e.kind = Kind::Prompt;
    e.text = p;
    apply_command(e);
  }
  script_prompts_upto_ = upto;
}

bool WorldLoop::wait_for_work(int64_t first_seq, int frames, Clock::time_point deadline) {
  const bool lockstep = opt_.pacing == WorldLoopOptions::Pacing::Lockstep;
  return inputs_.wait_until(
      [&] {
        for (const InputEvent& e : inputs_.events_locked()) {
          if (e.kind != Kind::Actions) return true;
          if (lockstep && e.frame >= first_seq + frames - 1) return true;
        }
        return false;
      },
      deadline);
}

std::vector<FrameActions> WorldLoop::actions_for_chunk(int64_t first_seq, int frames,
                                                       std::vector<InputEvent>& samples,
                                                       Clock::time_point& newest_input) {
  std::vector<FrameActions> actions(static_cast<size_t>(frames));
  for (const InputEvent& e : samples) newest_input = std::max(newest_input, e.time);
  if (opt_.pacing == WorldLoopOptions::Pacing::Lockstep) {
    for (int j = 0; j < frames; ++j) {
      for (const InputEvent& e : samples)
        if (e.frame == first_seq + j) last_actions_ = e.actions;
      actions[static_cast<size_t>(j)] = last_actions_;
    }
  } else {
    // Spread the m samples over the K frames; each frame takes the union of its share.
    const size_t m = samples.size();
    for (int j = 0; j < frames; ++j) {
      const size_t lo = m * static_cast<size_t>(j) / static_cast<size_t>(frames);
      const size_t hi = m * static_cast<size_t>(j + 1) / static_cast<size_t>(frames);
      if (hi > lo) {
        FrameActions a;
        for (size_t i = lo; i < hi; ++i) {
          a.keys |= samples[i].actions.keys;
          a.mouse_dx += samples[i].actions.mouse_dx;
          a.mouse_dy += samples[i].actions.mouse_dy;
        }
        last_actions_ = samples[hi - 1].actions;
        actions[static_cast<size_t>(j)] = a;
      } else {
        FrameActions held = last_actions_;
        held.mouse_dx = held.mouse_dy = 0;
        actions[static_cast<size_t>(j)] = held;
      }
    }
  }
  if (opt_.script)
    for (int j = 0; j < frames; ++j) actions[static_cast<size_t>(j)].keys |= opt_.script->keys_at(first_seq + j);
  return actions;
}

void WorldLoop::run_chunks() {
  const bool lockstep = opt_.pacing == WorldLoopOptions::Pacing::Lockstep;
  prompt_ = std::make_shared<const std::string>(opt_.prompt);
  end_seq_ = opt_.max_frames;
  if (opt_.load_state) restore_state(*opt_.load_state);  // sets end_seq_ from the state's first frame
  else source_.reset(opt_.seed, opt_.prompt);
  save_pending_ = opt_.save_state_at >= 0 && !opt_.save_state_path.empty();
  next_due_ = Clock::now();
  const FrameFormat fmt = source_.format();
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / std::max(1.0, source_.nominal_fps())));

  while (!stop_) {
    save_if_due();  // at the start (K = 0) or after a load
    if (end_seq_ >= 0 && seq_ >= end_seq_) break;
    const int k = std::max(1, source_.chunk_frames());
    bool paused;
    {
      // Commands due at this boundary (all of them while paused: nothing advances).
      paused = status().paused;
      for (const InputEvent& e : inputs_.drain_if([&](const InputEvent& e) {
             return e.kind != Kind::Actions && (!lockstep || paused || e.frame <= seq_);
           })) {
        if (e.kind == Kind::SaveState || e.kind == Kind::LoadState) {
          // F5 / F8: a failure is told, and the world goes on.
          std::string outcome;
          try {
            if (e.kind == Kind::SaveState) {
              save_state(e.text, seq_);
            } else {
              restore_state(StateReader::open(e.text));
              outcome = "loaded " + e.text;
            }
          } catch (const std::exception& ex) {
            outcome = std::string(e.kind == Kind::SaveState ? "save failed: " : "load failed: ") + ex.what();
          }
          if (!outcome.empty()) {
            std::lock_guard<std::mutex> lock(status_mu_);
            status_.notice = outcome;
          }
          continue;
        }
        apply_command(e);
      }
      apply_script_prompts(seq_);
      paused = status().paused;
    }
    const Clock::time_point now = Clock::now();
    if (paused && step_budget_ == 0) {
      if (!lockstep) {  // keep the queue short; remember what is held
        auto stale = inputs_.drain_if([](const InputEvent& e) { return e.kind == Kind::Actions; });
        if (!stale.empty()) last_actions_ = stale.back().actions;
      }
      if (!wait_for_work(seq_, k, now + kPollSlice) && stop_) break;
      continue;
    }
    if (!lockstep) {
      const Clock::time_point start_at = next_due_ - period * k;  // one chunk ahead of display
      if (now < start_at) {
        wait_for_work(seq_, k, std::min(start_at, now + kPollSlice));
        continue;
      }
      if (next_due_ + period * k < now) next_due_ = now;  // late: no catch-up burst
    } else {
      // The chunk's last sample is queued; a run that ends inside this chunk
      // only has samples up to its last frame (chunks of 12 pixel frames and
      // --frames 30, say), so the wait stops there.
      int64_t last_needed = seq_ + k - 1;
      if (end_seq_ >= 0) last_needed = std::min<int64_t>(last_needed, end_seq_ - 1);
      bool ready = false;
      inputs_.wait_until(
          [&] {
            for (const InputEvent& e : inputs_.events_locked())
              if (e.kind == Kind::Actions && e.frame >= last_needed) return ready = true;
            return false;
          },
          now);
      if (!ready) {
        if (!wait_for_work(seq_, k, now + kPollSlice) && inputs_.closed()) break;
        continue;
      }
    }
    if (paused) --step_budget_;

    // Inputs for this chunk.
    std::vector<InputEvent> samples = inputs_.drain_if([&](const InputEvent& e) {
      return e.kind == Kind::Actions && (!lockstep || e.frame < seq_ + k);
    });
    Clock::time_point newest_input{};
    const std::vector<FrameActions> actions = actions_for_chunk(seq_, k, samples, newest_input);

    // Make the chunk.
    auto rgb = std::make_shared<std::vector<uint8_t>>();
    ChunkRequest req{world_frame_, actions, need_rgb_.load()};
    auto stats = std::make_shared<const ChunkStats>(source_.next_chunk(req, *rgb));
    const std::vector<DeviceFrameRef> device = source_.take_device_frames();
    const Clock::time_point produced = Clock::now();
    const size_t frame_bytes = fmt.bytes();
    if (!device.empty() && device.size() < static_cast<size_t>(k))
      throw std::runtime_error("frame source returned fewer device frames than a chunk needs");
    const bool have_rgb = device.empty() || !rgb->empty();  // the device path may leave rgb empty
    if (have_rgb && rgb->size() < frame_bytes * static_cast<size_t>(k))
      throw std::runtime_error("frame source returned fewer bytes than a chunk needs");

    int publish = k;
    if (end_seq_ >= 0) publish = static_cast<int>(std::min<int64_t>(k, end_seq_ - seq_));
    if (opt_.input_log) opt_.input_log->record_actions(seq_, {actions.begin(), actions.begin() + publish});
    std::vector<Frame> frames;
    frames.reserve(static_cast<size_t>(publish));
    std::shared_ptr<const std::vector<uint8_t>> pixels;
    if (have_rgb) pixels = std::move(rgb);
    last_chunk_ = {seq_, actions, pixels};
    for (int j = 0; j < publish; ++j) {
      Frame f;
      f.seq = seq_ + j;
      f.world_frame = world_frame_ + j;
      f.chunk = chunk_;
      f.format = fmt;
      f.rgb = pixels;
      f.offset = frame_bytes * static_cast<size_t>(j);
      if (!device.empty()) f.device = device[static_cast<size_t>(j)];
      f.stats = stats;
      f.prompt = prompt_;
      f.actions = actions[static_cast<size_t>(j)];
      f.due = next_due_ + period * j;
      f.produced = produced;
      f.input_time = newest_input;
      frames.push_back(std::move(f));
    }
    seq_ += k;
    world_frame_ += k;
    ++chunk_;
    next_due_ += period * k;
    // A state due inside or at the end of this chunk is written before its
    // frames are published: a run that ends with this chunk stops as soon as
    // it has them, and the state must not be lost to that race.
    save_if_due();
    if (hook_) hook_(frames);
    {
      std::lock_guard<std::mutex> lock(status_mu_);
      status_.frames_made += publish;
      status_.chunks_made = chunk_;
    }
    if (!mailbox_.publish(std::move(frames))) break;
  }
}

}  // namespace wl::app
