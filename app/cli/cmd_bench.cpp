// worldloop bench world: the default world (or --model DIR) played headless
// against the oracle; prints one JSON object (see app/world_bench.h).
#include <cstdio>
#include <cstdlib>
#include <string>

#include <omp.h>

#include "app/cli/args.h"
#include "app/cli/play_options.h"
#include "app/cli/commands.h"
#include "bench/eval/world_bench.h"
#include "runtime/core/error.h"
#include "runtime/model/world.h"
#include "runtime/core/ops.h"

namespace wl::app {

int cmd_bench(int argc, char** argv) {
  Args args(argc, argv, {"model", "frames", "threads", "seed", "memory-steps", "out", "precision"},
            {"json", "help", "quick"});
  const std::string what = args.positional().empty() ? "" : args.positional().front();
  if (args.has("help") || (what != "world" && what != "strip")) {
    std::fputs("usage: worldloop bench world [--json] [--quick] [--model DIR] [--frames N] [--threads N]\n"
               "                             [--precision auto|f32|bf16] [--seed S] [--memory-steps K]\n"
               "         --quick: the same keys and measures with smaller counts (300 frames of long play,\n"
               "         prompt switches every 100), a run of about a minute\n"
               "       worldloop bench strip --out PNG [--model DIR] [--seed S]\n"
               "         (oracle row over model row, same start and keys, prompt switched half way)\n",
               args.has("help") ? stdout : stderr);
    return args.has("help") ? 0 : 2;
  }
  if (what == "strip") {
    WorldStripOptions so;
    so.world_dir = args.get("model", default_world_dir());
    so.path = args.get("out", "");
    so.seed = static_cast<uint64_t>(args.get_int("seed", 1));
    if (so.path.empty()) throw Error("bench strip: --out PNG is required");
    write_world_strip(so);
    std::printf("{\"strip\": \"%s\"}\n", so.path.c_str());
    return 0;
  }
  WorldBenchOptions o;
  o.world_dir = args.get("model", default_world_dir());
  if (args.has("quick")) o.frames = 300, o.switch_every = 100;
  o.frames = static_cast<int>(args.get_int("frames", o.frames));
  o.precision = args.get("precision", "auto");
  ops::parse_precision(o.precision);  // a bad value fails before any work
  o.seed = static_cast<uint64_t>(args.get_int("seed", 1));
  o.memory_steps = static_cast<int>(args.get_int("memory-steps", o.memory_steps));
  if (o.frames < 100) throw Error("--frames must be at least 100 (drift is measured per 100 frames)");
  const long long t = args.get_int("threads", 0);  // absent: adaptive; given: 1..kMaxThreads (0 and -1 were ignored)
  if (args.has("threads") && (t < 1 || t > kMaxThreads))
    throw Error("--threads must be 1.." + std::to_string(kMaxThreads) + ", got " + std::to_string(t));
  if (t > 0) omp_set_num_threads(static_cast<int>(t));
  o.adaptive_threads = t == 0 && std::getenv("OMP_NUM_THREADS") == nullptr;
  const nlohmann::json result = run_world_bench(o);
  std::printf("%s\n", result.dump(args.has("json") ? -1 : 2).c_str());
  return 0;
}

}  // namespace wl::app
