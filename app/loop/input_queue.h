// Inputs travelling from the main thread (keyboard, prompt box, buttons) to the
// model thread, each stamped with the time it was taken and the session frame
// it was meant for. Producers never block; the model thread drains.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/core/actions.h"

namespace wl::app {

using Clock = std::chrono::steady_clock;

struct InputEvent {
  enum class Kind {
    Actions,      // the keys held while one frame was shown (sampled every frame)
    Prompt,       // switch to `text` at the next chunk boundary
    Reset,        // new world from `seed` with the prompt in force
    TogglePause,
    Step,         // make one chunk while paused
    Cache,        // switch the cache to policy `text` with budget `budget_frames` (0: keep)
    SaveState,    // write the world's state to file `text` at the next chunk boundary
    LoadState,    // continue from the state in file `text`
  };
  Kind kind = Kind::Actions;
  Clock::time_point time{};
  int64_t frame = 0;  // session frame the input belongs to (see WorldLoop)
  FrameActions actions;
  std::string text;
  uint64_t seed = 0;
  int64_t budget_frames = 0;
};

// An event of `kind` stamped now (commands from the window or a browser).
inline InputEvent input_event_now(InputEvent::Kind kind) {
  InputEvent e;
  e.kind = kind;
  e.time = Clock::now();
  return e;
}

class InputQueue {
 public:
  void push(InputEvent e);
  // Moves out the events that satisfy `take`, keeping the rest in order.
  template <class Pred>
  std::vector<InputEvent> drain_if(Pred take);
  // Waits until `ready()` (evaluated under the lock) holds, the queue is closed
  // or `deadline` passes. Returns false when closed.
  template <class Pred>
  bool wait_until(Pred ready, Clock::time_point deadline);
  void close();
  bool closed() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<InputEvent> events_;
  bool closed_ = false;

 public:
  // For wait predicates: the queued events (valid only inside the predicate).
  const std::deque<InputEvent>& events_locked() const { return events_; }
};

template <class Pred>
std::vector<InputEvent> InputQueue::drain_if(Pred take) {
  std::vector<InputEvent> out;
  std::lock_guard<std::mutex> lock(mu_);
  std::deque<InputEvent> rest;
  for (InputEvent& e : events_) {
    if (take(e))
      out.push_back(std::move(e));
    else
      rest.push_back(std::move(e));
  }
  events_.swap(rest);
  return out;
}

template <class Pred>
bool InputQueue::wait_until(Pred ready, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return closed_ || ready(); });
  return !closed_;
}

}  // namespace wl::app
