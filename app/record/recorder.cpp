#include "app/record/recorder.h"

namespace wl::app {

Recorder::Recorder(std::unique_ptr<FrameWriter> writer, size_t max_pending)
    : writer_(std::move(writer)), max_pending_(max_pending ? max_pending : 1) {
  thread_ = std::thread([this] { run(); });
}

Recorder::~Recorder() { finish(); }

void Recorder::push(const Frame& frame) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return done_ || !error_.empty() || queue_.size() < max_pending_; });
  if (done_ || !error_.empty()) return;
  queue_.push_back(frame);
  cv_.notify_all();
}

void Recorder::run() {
  for (;;) {
    Frame f;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return done_ || !queue_.empty(); });
      if (queue_.empty()) break;
      f = std::move(queue_.front());
      queue_.pop_front();
      cv_.notify_all();
    }
    try {
      writer_->write(f.pixels(), f.format);
      std::lock_guard<std::mutex> lock(mu_);
      ++written_;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = e.what();
      queue_.clear();
      cv_.notify_all();
      break;
    }
  }
}

std::string Recorder::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
    try {
      writer_->close();
    } catch (const std::exception& e) {
      if (error_.empty()) error_ = e.what();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

std::string Recorder::describe() const { return writer_->describe(); }

int64_t Recorder::written() const {
  std::lock_guard<std::mutex> lock(mu_);
  return written_;
}

}  // namespace wl::app
