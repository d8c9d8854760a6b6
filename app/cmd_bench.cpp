// worldloop bench world: the default world (or --model DIR) played headless
// against the oracle; prints one JSON object (see app/world_bench.h).
#include <cstdio>
#include <string>

#include <omp.h>

#include "app/args.h"
#include "app/commands.h"
#include "app/world_bench.h"
#include "runtime/error.h"
#include "runtime/model/world.h"

namespace wl::app {

int cmd_bench(int argc, char** argv) {
  Args args(argc, argv, {"model", "frames", "threads", "seed", "memory-steps", "out"}, {"json", "help"});
  const std::string what = args.positional().empty() ? "" : args.positional().front();
  if (args.has("help") || (what != "world" && what != "strip")) {
    std::fputs("usage: worldloop bench world [--json] [--model DIR] [--frames N] [--threads N] [--seed S]\n"
               "                             [--memory-steps K]\n"
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
  o.frames = static_cast<int>(args.get_int("frames", o.frames));
  o.seed = static_cast<uint64_t>(args.get_int("seed", 1));
  o.memory_steps = static_cast<int>(args.get_int("memory-steps", o.memory_steps));
  if (o.frames < 100) throw Error("--frames must be at least 100 (drift is measured per 100 frames)");
  if (const long long t = args.get_int("threads", 0); t > 0) omp_set_num_threads(static_cast<int>(t));
  const nlohmann::json result = run_world_bench(o);
  std::printf("%s\n", result.dump(args.has("json") ? -1 : 2).c_str());
  return 0;
}

}  // namespace wl::app
