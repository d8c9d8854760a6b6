#include "app/sources/decode_worker.h"

#include <chrono>
#include <utility>

#include <omp.h>

#include "runtime/core/error.h"
#include "runtime/model/frame_decoder.h"

namespace wl::app {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

DecodeWorker::DecodeWorker(LatentVideoDecoder& decoder, int threads)
    : decoder_(decoder), threads_(threads < 1 ? 1 : threads), thread_([this] { run(); }) {}

DecodeWorker::~DecodeWorker() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !job_; });  // the worker has taken any job it was given
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DecodeWorker::start(Tensor latents) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_) throw Error("decode worker: a chunk is already being decoded");
    job_ = std::move(latents);
    in_flight_ = true;
    done_ = false;
    error_ = nullptr;
  }
  cv_.notify_all();
}

bool DecodeWorker::busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

DecodeWorker::Result DecodeWorker::wait() {
  const Clock::time_point t0 = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  if (!in_flight_) throw Error("decode worker: no chunk is being decoded");
  cv_.wait(lock, [&] { return done_; });
  in_flight_ = false;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  Result r = std::move(result_);
  result_ = {};
  r.waited_ms = ms_since(t0);
  return r;
}

void DecodeWorker::run() {
  omp_set_num_threads(threads_);  // this thread's team, apart from the model thread's
  for (;;) {
    Tensor latents;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || job_; });
      if (!job_) return;  // stop_, nothing left
      latents = std::move(*job_);
      job_.reset();
    }
    cv_.notify_all();  // the destructor may be waiting for the job to be taken
    Result r;
    std::exception_ptr error;
    const Clock::time_point t0 = Clock::now();
    try {
      unit_rgb_to_rgb8(decoder_.push(latents), r.rgb);  // [F][H][W][3]
    } catch (...) {
      error = std::current_exception();
    }
    r.decode_ms = ms_since(t0);
    {
      std::lock_guard<std::mutex> lock(mu_);
      result_ = std::move(r);
      error_ = error;
      done_ = true;
    }
    cv_.notify_all();
  }
}

}  // namespace wl::app
