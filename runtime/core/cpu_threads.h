// How many threads the CPU backend uses, chosen from what the other processes
// on the machine leave free.
//
// The model's ops are small (a frame of the default world is ~500 parallel
// regions of tens of microseconds each), so OpenMP's threads spin at every
// barrier. That is the fastest way to run on idle cores, and the slowest when
// another process holds one of them: a spinning thread waits for a partner
// that the scheduler has parked (measured on 2 cores, AVX2, one busy core:
// 7.8 fps with 2 spinning threads, 23 fps with 1 thread, 18 fps with passive
// waiting; idle: 31-35, 22 and 15 fps). So the governor keeps the spinning
// team, sized to the cores the rest of the machine leaves: it samples
// /proc/stat (all CPU time) against getrusage (this process's), and between
// chunks sets omp_set_num_threads on the model thread.
//
// Thread counts change how some f32 products on AVX2 split their sums, so
// frames can differ in the last bits between a loaded and an idle run; a fixed
// count (--threads N or OMP_NUM_THREADS) turns the governor off.
#pragma once
#include <chrono>
#include <cstdint>

namespace wl {

// The decision alone, a pure function: with `cores` in all, `others` of them
// busy with other processes (cores' worth, averaged over the last interval)
// and `current` threads in use, the thread count to use next (1..max_threads).
// Hysteresis: a core counts as taken above 0.6 of it, as free again below 0.35.
int threads_for_load(int cores, double others, int current, int max_threads);

class CpuThreadGovernor {
 public:
  // Uses up to max_threads (0: omp_get_max_threads() now).
  explicit CpuThreadGovernor(int max_threads = 0);

  // Call between chunks on the thread that runs the model. Samples at most
  // every `interval`; applies a new count with omp_set_num_threads. Returns
  // the count in force.
  int update();
  int threads() const { return threads_; }
  double others_cores() const { return others_; }  // the last estimate (-1 before the first)

 private:
  bool sample(uint64_t& all_busy_ticks, double& self_cpu_s) const;

  int max_threads_, cores_, threads_;
  double others_ = -1.0;
  std::chrono::steady_clock::time_point last_wall_;
  uint64_t last_busy_ = 0;
  double last_self_ = 0;
  bool have_last_ = false;
  std::chrono::milliseconds interval_{400};
};

}  // namespace wl
