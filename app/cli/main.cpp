// worldloop: command dispatch. Every failure a user can cause ends here as one
// line on stderr and a non-zero exit code.
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <thread>

#include "app/cli/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

const Command kCommands[] = {
    {"play", wl::app::cmd_play, "play a world in a window (or --headless)"},
    {"serve", wl::app::cmd_serve, "play a world in a browser: a web page with the frame, the HUD and the prompt"},
    {"generate", wl::app::cmd_generate, "generate a video's latents with the sampler (chunk-wise or rolling)"},
    {"bench", wl::app::cmd_bench, "measure a world against its oracle ('bench world')"},
    {"dit-replay", wl::app::cmd_dit_replay, "replay recorded forward calls of a causal Wan DiT"},
    {"text-encode", wl::app::cmd_text_encode, "encode prompts with Wan's umT5 text encoder"},
    {"encode", wl::app::cmd_encode, "prepare a start image and run the CLIP vision tower on it (MG2)"},
    {"decode", wl::app::cmd_decode, "turn Wan 2.1 latents into pixels with the Wan VAE or TAEHV"},
    {"convert", wl::app::cmd_convert, "turn any checkpoint (.pt, safetensors, diffusers) into one f32 safetensors"},
    {"inspect", wl::app::cmd_inspect, "say what a checkpoint file or folder is, without loading it"},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: worldloop <command> [options]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.help);
  std::fprintf(out, "\n'worldloop <command> --help' describes a command's options; 'worldloop --version'\n"
                   "names the build, the processor's ISA and the precision in use.\n");
}

// OpenMP reads OMP_NUM_THREADS when its library loads, before main; a count
// far above the machine's (100000, say) crashes it at the first parallel
// region. Such a count is clamped to the hardware threads, with one warning,
// by re-executing with the clamped value (the only way its global setting
// changes for every thread). Counts within the machine are honoured as given.
void clamp_omp_num_threads(char** argv) {
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (!env || std::getenv("WORLDLOOP_OMP_CLAMPED")) {
    if (const char* was = std::getenv("WORLDLOOP_OMP_CLAMPED"))
      std::fprintf(stderr, "worldloop: OMP_NUM_THREADS=%s is more than this machine's %s threads; using %s\n", was,
                   env ? env : "?", env ? env : "?");
    ::unsetenv("WORLDLOOP_OMP_CLAMPED");
    return;
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  char* end = nullptr;
  const unsigned long long asked = std::strtoull(env, &end, 10);  // the first level of a list like "4,2"
  if (end == env || asked <= hw) return;
  const std::string was = env;
  ::setenv("WORLDLOOP_OMP_CLAMPED", was.c_str(), 1);
  ::setenv("OMP_NUM_THREADS", std::to_string(hw).c_str(), 1);
  ::execv("/proc/self/exe", argv);
  // exec failed: go on unclamped rather than not at all.
  std::fprintf(stderr, "worldloop: OMP_NUM_THREADS=%s is more than this machine's %u threads and could not be "
                       "clamped (%s); set it to at most %u\n", was.c_str(), hw, std::strerror(errno), hw);
  ::unsetenv("WORLDLOOP_OMP_CLAMPED");
}

}  // namespace

int main(int argc, char** argv) {
  clamp_omp_num_threads(argv);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--version" || name == "version") {
    std::fputs(wl::app::version_text().c_str(), stdout);
    return 0;
  }
  if (name == "--help" || name == "-h" || name == "help") {
    usage(stdout);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (name == c.name) {
      try {
        return c.run(argc - 2, argv + 2);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "worldloop %s: %s\n", c.name, e.what());
        return 1;
      }
    }
  }
  std::fprintf(stderr, "worldloop: unknown command '%s'\n", name.c_str());
  usage(stderr);
  return 2;
}
