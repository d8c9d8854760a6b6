// Records frames on its own thread so PNG/video encoding never stalls the
// model thread unless the writer falls more than `max_pending` frames behind
// (then the producer waits: a recording never drops frames).
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "app/loop/frame_mailbox.h"
#include "app/record/frame_writer.h"

namespace wl::app {

class Recorder {
 public:
  Recorder(std::unique_ptr<FrameWriter> writer, size_t max_pending = 256);
  ~Recorder();  // finishes writing what is queued
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  void push(const Frame& frame);
  // Writes what is queued and closes the writer. Returns the writer's error, if any.
  std::string finish();
  std::string describe() const;
  int64_t written() const;

 private:
  void run();

  std::unique_ptr<FrameWriter> writer_;
  const size_t max_pending_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Frame> queue_;
  bool done_ = false;
  int64_t written_ = 0;
  std::string error_;
  std::thread thread_;
};

}  // namespace wl::app
