#include "runtime/core/cpu_threads.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <omp.h>

namespace wl {

int threads_for_load(int cores, double others, int current, int max_threads) {
  max_threads = std::max(1, max_threads);
  current = std::clamp(current, 1, max_threads);
  if (others < 0) return current;  // no estimate yet
  // The cores left when a core the others use more than `taken` of counts as theirs.
  const auto fit = [&](double taken) { return static_cast<int>(std::floor(cores - others + taken)); };
  int want = current;
  if (fit(0.6) < current) want = fit(0.6);        // give a core up once others hold 0.6 of it
  else if (fit(0.35) > current) want = fit(0.35);  // take it back once they use less than 0.35
  return std::clamp(want, 1, max_threads);
}

CpuThreadGovernor::CpuThreadGovernor(int max_threads)
    : max_threads_(max_threads > 0 ? max_threads : omp_get_max_threads()),
      cores_(static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)))),
      threads_(max_threads_) {}

bool CpuThreadGovernor::sample(uint64_t& all_busy_ticks, double& self_cpu_s) const {
  FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return false;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait,
                            &irq, &softirq, &steal);
  std::fclose(f);
  if (n < 4) return false;
  all_busy_ticks = user + nice + system + irq + softirq + steal;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return false;
  self_cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  return true;
}

int CpuThreadGovernor::update() {
  const auto now = std::chrono::steady_clock::now();
  if (have_last_ && now - last_wall_ < interval_) return threads_;
  uint64_t busy = 0;
  double self = 0;
  if (!sample(busy, self)) return threads_;  // no /proc: keep what we have
  if (have_last_) {
    const double wall = std::chrono::duration<double>(now - last_wall_).count();
    static const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double all = static_cast<double>(busy - last_busy_) / hz;
    others_ = std::max(0.0, (all - (self - last_self_)) / wall);
    const int next = threads_for_load(cores_, others_, threads_, max_threads_);
    if (next != threads_) {
      threads_ = next;
      omp_set_num_threads(threads_);
    }
  }
  last_wall_ = now, last_busy_ = busy, last_self_ = self, have_last_ = true;
  return threads_;
}

}  // namespace wl
