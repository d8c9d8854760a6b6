// A pixel decoder on a thread of its own, so that decoding chunk N runs while
// the model thread denoises chunk N+1 (issue 22: decoding beside denoising).
// One job at a time, in the order given, so the decoder's stream sees the
// latents exactly as a sequential run would and gives the same frames.
//
// The worker runs an OpenMP team of its own, of `threads`: 1 beside a DiT on
// the CPU, whose team shrinks by as much (world_source.cpp) so the two never
// spin against each other on the same cores; every core beside a DiT on CUDA.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "runtime/core/tensor.h"
#include "runtime/model/latent_video_decoder.h"

namespace wl::app {

class DecodeWorker {
 public:
  DecodeWorker(LatentVideoDecoder& decoder, int threads);
  ~DecodeWorker();  // waits for the job in flight, then stops the thread
  DecodeWorker(const DecodeWorker&) = delete;
  DecodeWorker& operator=(const DecodeWorker&) = delete;

  struct Result {
    std::vector<uint8_t> rgb;  // RGB8 [F][H][W][3], the frames the latents added
    double decode_ms = 0;      // the decode itself, on the worker
    double waited_ms = 0;      // how long wait() blocked: the part of decode_ms that was not hidden
  };

  // Starts decoding latents [n, C, h, w] (CPU). No job may be in flight.
  void start(Tensor latents);
  bool busy() const;
  // The job's frames; rethrows the decoder's error. A job must be in flight.
  Result wait();

 private:
  void run();

  LatentVideoDecoder& decoder_;
  const int threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Tensor> job_;       // latents waiting for the worker
  bool in_flight_ = false;          // a job started and not yet waited for
  bool done_ = false;               // the job in flight has finished
  bool stop_ = false;
  Result result_;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts after everything above is ready
};

}  // namespace wl::app
