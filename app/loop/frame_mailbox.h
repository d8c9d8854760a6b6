// Finished frames travelling from the model thread to the presenter (or the
// headless writer), with the statistics of the chunk that made them.
//
// Two ways to consume:
// - take_due(): real-time presentation. Returns the newest frame whose display
//   time has come and discards older ones (counted as dropped). Never blocks.
// - pop_next(): lossless, in order (headless, tests). The producer then waits
//   while the mailbox is full instead of dropping.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "app/sources/frame_source.h"
#include "app/loop/input_queue.h"

namespace wl::app {

struct Frame {
  int64_t seq = 0;          // session frame number (never restarts)
  int64_t world_frame = 0;  // frame index since the last reset
  int64_t chunk = 0;        // session chunk number
  FrameFormat format;
  std::shared_ptr<const std::vector<uint8_t>> rgb;  // the chunk's pixels (null on the device path unless recording)
  size_t offset = 0;                                // this frame's first byte in *rgb
  DeviceFrameRef device;                            // the frame in GPU memory (device path), or null
  std::shared_ptr<const ChunkStats> stats;          // shared by the chunk's frames
  std::shared_ptr<const std::string> prompt;        // the prompt in force
  FrameActions actions;                             // what it was made with
  Clock::time_point due{};        // when it should be on screen (real-time)
  Clock::time_point produced{};   // when its chunk finished
  Clock::time_point input_time{}; // the newest input it saw (epoch when none)

  const uint8_t* pixels() const { return rgb->data() + offset; }
};

class FrameMailbox {
 public:
  enum class Mode { Newest, Lossless };
  FrameMailbox(Mode mode, size_t capacity);

  // Producer. Lossless: waits for room (returns false when closed).
  bool publish(std::vector<Frame> frames);

  // Consumers.
  std::optional<Frame> take_due(Clock::time_point now);
  std::optional<Frame> pop_next(Clock::time_point deadline);

  void close();
  int64_t dropped() const;
  size_t pending() const;

 private:
  const Mode mode_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Frame> frames_;
  int64_t dropped_ = 0;
  bool closed_ = false;
};

}  // namespace wl::app
