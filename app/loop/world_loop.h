// The model thread: turns queued inputs into per-frame actions, steps the
// frame source chunk by chunk and publishes finished frames to the mailbox.
//
// Frames are numbered by session frame `seq` (never restarts; inputs and
// scripts use it) and by world frame (restarts at every reset; the source
// sees it). Commands (prompt, reset, pause, step) take effect between chunks:
// a prompt switches at the first chunk boundary at or after the frame it was
// stamped with.
//
// Pacing::RealTime  The loop paces itself to the source's nominal rate, one
//                   chunk ahead of its display time, and never waits for the
//                   presenter. Actions: the samples that arrived since the
//                   previous chunk are spread over the chunk's frames (each
//                   frame gets the union of its share, so a short tap is never
//                   lost); with no new samples the last keys stay held.
// Pacing::Lockstep  Deterministic: chunk [s, s+K) waits until the samples
//                   stamped s..s+K-1 are queued and each frame gets its own.
//                   Used by --headless and the tests.
//
// Frames carry RGB bytes, or on the device path (app/device_frames.h) the
// handles of their slots in GPU memory, plus the bytes while set_need_rgb(true)
// (recording).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <memory>
#include <vector>

#include "app/loop/action_script.h"
#include "app/loop/frame_mailbox.h"
#include "app/sources/frame_source.h"
#include "app/loop/input_log.h"
#include "app/loop/input_queue.h"
#include "runtime/core/state_file.h"

namespace wl::app {

struct WorldLoopOptions {
  enum class Pacing { RealTime, Lockstep };
  Pacing pacing = Pacing::RealTime;
  uint64_t seed = 0;
  std::string prompt;
  const ActionScript* script = nullptr;  // optional; keys OR-ed with live input
  int64_t max_frames = -1;               // stop after this many frames of this run; -1: never
  bool start_paused = false;
  // Saved world states (app/loop/world_loop_state.cpp). After `save_state_at`
  // frames of the session (its frame counter), the state goes to
  // `save_state_path`; frames of that chunk past it are saved with it.
  int64_t save_state_at = -1;
  std::string save_state_path;
  // Start from this state instead of a reset: the session's frame counter,
  // seed, prompt, held keys and the world continue where it was saved.
  std::shared_ptr<const StateReader> load_state;
  // --record-inputs: every frame's actions and every prompt, cache and reset
  // command go here (app/loop/input_log.h). Not owned.
  InputLog* input_log = nullptr;
};

struct WorldLoopStatus {
  bool paused = false;
  bool finished = false;
  int64_t frames_made = 0;  // session frames published
  int64_t chunks_made = 0;
  uint64_t seed = 0;
  std::string prompt;
  std::string error;  // what the source threw, if it did
  std::string notice; // the outcome of the last command worth telling (e.g. a cache change)
  std::string saved_state;  // the last state written (--save-state-at, F5), empty before
};

class WorldLoop {
 public:
  // Called on the model thread with every chunk's frames before they are
  // published (recording). Must not block for long.
  using ChunkHook = std::function<void(const std::vector<Frame>&)>;

  WorldLoop(FrameSource& source, InputQueue& inputs, FrameMailbox& mailbox, WorldLoopOptions options);
  ~WorldLoop();
  WorldLoop(const WorldLoop&) = delete;
  WorldLoop& operator=(const WorldLoop&) = delete;

  void set_chunk_hook(ChunkHook hook);  // before start()
  // The session frame a run loaded from this state starts at (the frame after the save point).
  static int64_t first_frame_of(const StateReader& state);
  // Device path: also make RGB bytes from the next chunk on (any thread).
  void set_need_rgb(bool on) { need_rgb_ = on; }
  void start();
  // Stops the thread and joins it; closes the input queue and the mailbox.
  void stop();
  WorldLoopStatus status() const;

 private:
  void run();
  void run_chunks();
  // Saved world states (world_loop_state.cpp). save_state writes the source's
  // state, the loop's counters and the frames of the last chunk from
  // session frame `from` on; restore_state publishes those frames again and
  // sets the counters. Both on the model thread, between chunks.
  void save_state(const std::string& path, int64_t from);
  void restore_state(const StateReader& in);
  // --save-state-at: writes the state once the session reaches its frame
  // (throws: the run stops with the error).
  void save_if_due();
  // Applies one command (prompt, cache policy or budget, reset) to the source's settings.
  void apply_command(const InputEvent& e);
  void apply_script_prompts(int64_t upto);
  std::vector<FrameActions> actions_for_chunk(int64_t first_seq, int frames, std::vector<InputEvent>& samples,
                                              Clock::time_point& newest_input);
  bool wait_for_work(int64_t first_seq, int frames, Clock::time_point deadline);

  FrameSource& source_;
  InputQueue& inputs_;
  FrameMailbox& mailbox_;
  const WorldLoopOptions opt_;
  ChunkHook hook_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> need_rgb_{false};

  // Model-thread state.
  int64_t seq_ = 0;
  int64_t world_frame_ = 0;
  int64_t chunk_ = 0;
  int64_t script_prompts_upto_ = -1;
  int step_budget_ = 0;
  FrameActions last_actions_;
  Clock::time_point next_due_{};
  std::shared_ptr<const std::string> prompt_;
  int64_t end_seq_ = -1;     // max_frames: the session frame this run stops at
  bool save_pending_ = false;
  struct LastChunk {         // the last chunk made, for a state saved inside it
    int64_t first_seq = 0;
    std::vector<FrameActions> actions;
    std::shared_ptr<const std::vector<uint8_t>> rgb;  // null on the device path
  } last_chunk_;

  mutable std::mutex status_mu_;
  WorldLoopStatus status_;
};

}  // namespace wl::app
