// `worldloop bench world`: plays a world package headless against the oracle
// game it imitates and measures speed, short- and long-horizon fidelity,
// action and prompt adherence, and memory under each cache policy (issue 5's
// numbers). Nothing here asserts: it reports.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cache/cache_policy.h"

namespace wl::app {

struct WorldBenchOptions {
  std::string world_dir;
  int frames = 2000;        // long scripted play
  uint64_t seed = 1;
  int switch_every = 300;   // frames between prompt switches in the long play
  int memory_steps = 24;    // frames walked out (and back) in the memory test
  std::vector<std::string> policies = cache::policy_names();  // every registered policy
  std::string precision = "auto";  // the DiT's matrix products: auto|f32|bf16
  bool adaptive_threads = false;   // size the CPU team to the free cores (runtime/cpu_threads.h)
};

nlohmann::json run_world_bench(const WorldBenchOptions& options);

// A picture for people: the oracle (top row) and the model (bottom row) from
// the same primed start under the same keys, every `step`-th of `frames`
// frames, with the prompt switched from the first preset to the second half
// way. Written as PNG at `path`, frames scaled up by `zoom`.
struct WorldStripOptions {
  std::string world_dir;
  std::string path;
  uint64_t seed = 1;
  int frames = 36;
  int step = 3;
  int zoom = 2;
};
void write_world_strip(const WorldStripOptions& options);

}  // namespace wl::app
