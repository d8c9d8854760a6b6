// Deterministic replay (`play --record-inputs DIR`, `play --replay DIR`).
// The log holds what decides a run's frames: the world's identity, the seed,
// the first prompt, the cache and precision options, every frame's actions
// exactly as the model got them (keys and mouse, after the spreading of
// real-time input and the action script), and every prompt, cache and reset
// command with the session frame of the chunk boundary it was applied at.
// A lockstep run fed from it makes the same frames byte for byte on the same
// build and backend. DIR/inputs.json:
//   {"format": "worldloop-inputs", "version": 1, "world": "<identity>",
//    "world_name": "...", "compute": "CPU avx2 ..., F32, 2 threads",
//    "options": {"model": "...", "seed": "5", "prompt": "...", "policy": "",
//                "budget_frames": 0, "precision": "auto", "load": ""},
//    "first_frame": 0,
//    "actions": [[frame, keys, mouse_dx, mouse_dy], ...]  (a row where they change)
//    "frames": N,
//    "commands": [{"frame": 12, "prompt": "..."}, {"frame": 30, "cache": "sink",
//                  "budget_frames": 0}, {"frame": 40, "reset": "7"}]}
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "app/loop/input_queue.h"
#include "app/loop/play_options.h"

namespace wl::app {

class InputLog {
 public:
  struct Command {
    int64_t frame = 0;
    InputEvent::Kind kind = InputEvent::Kind::Prompt;  // Prompt, Cache or Reset
    std::string text;                                  // the prompt or the policy
    uint64_t seed = 0;                                 // Reset
    int64_t budget_frames = 0;                         // Cache
  };

  // What the run was started with (before its first frame).
  std::string world, world_name, compute;
  PlayOptions options;  // model, seed, prompt, policy, budget_frames, precision, load_state
  int64_t first_frame = 0;

  // The model thread's side.
  void record_actions(int64_t first_seq, const std::vector<FrameActions>& actions);
  void record_command(int64_t frame, const InputEvent& e);  // Prompt, Cache, Reset; others ignored

  // Frames recorded, and each one's actions.
  int64_t frames() const;
  FrameActions actions_at(int64_t frame) const;
  std::vector<Command> commands() const;

  void write(const std::string& dir) const;  // creates dir; throws wl::Error naming the file
  static std::unique_ptr<InputLog> read(const std::string& dir);  // throws wl::Error naming the file and the entry

 private:
  mutable std::mutex mu_;
  std::vector<FrameActions> actions_;  // [frames] from first_frame
  std::vector<Command> commands_;
};

}  // namespace wl::app
