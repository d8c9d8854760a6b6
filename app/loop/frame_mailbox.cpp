#include "app/loop/frame_mailbox.h"

namespace wl::app {

FrameMailbox::FrameMailbox(Mode mode, size_t capacity) : mode_(mode), capacity_(capacity ? capacity : 1) {}

bool FrameMailbox::publish(std::vector<Frame> frames) {
  std::unique_lock<std::mutex> lock(mu_);
  for (Frame& f : frames) {
    if (mode_ == Mode::Lossless) {
      cv_.wait(lock, [&] { return closed_ || frames_.size() < capacity_; });
      if (closed_) return false;
    } else if (frames_.size() >= capacity_) {
      frames_.pop_front();
      ++dropped_;
    }
    frames_.push_back(std::move(f));
    cv_.notify_all();
  }
  return !closed_;
}

std::optional<Frame> FrameMailbox::take_due(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<Frame> out;
  while (!frames_.empty() && frames_.front().due <= now) {
    if (out) ++dropped_;
    out = std::move(frames_.front());
    frames_.pop_front();
  }
  if (out) cv_.notify_all();
  return out;
}

std::optional<Frame> FrameMailbox::pop_next(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return closed_ || !frames_.empty(); });
  if (frames_.empty()) return std::nullopt;
  Frame f = std::move(frames_.front());
  frames_.pop_front();
  cv_.notify_all();
  return f;
}

void FrameMailbox::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

int64_t FrameMailbox::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

size_t FrameMailbox::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return frames_.size();
}

}  // namespace wl::app
