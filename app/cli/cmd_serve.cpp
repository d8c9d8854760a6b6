// `worldloop serve`: its own flags (--port, --bind, --token, --max-clients,
// --jpeg-quality); the world's flags are play's (app/cli/play_options.h).
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "app/cli/commands.h"
#include "app/cli/play_options.h"
#include "app/loop/play_config.h"
#include "app/serve/serve_loop.h"

namespace wl::app {
namespace {

const char* serve_usage() {
  return "usage: worldloop serve [options] [play's world options]\n"
         "  --port P              TCP port (default 8080; 0: any free one, printed at start)\n"
         "  --bind ADDR           address to listen on (default 127.0.0.1). Any other than loopback\n"
         "                        needs a token, printed at start unless --token gives one\n"
         "  --token T             require ?token=T on the page (letters, digits, '-' and '_')\n"
         "  --max-clients N       browsers at once (default 8, at most 64)\n"
         "  --jpeg-quality Q      1..100 (default 90)\n"
         "  --frames N            stop after N frames (default: run until Ctrl-C)\n"
         "World options as for play: --model, --prompt, --seed, --policy, --budget-frames, --threads,\n"
         "--precision, --backend, --load, --record, --record-inputs, --actions, --config ...\n"
         "Open the printed address in a browser; keys and prompts work as in the window (docs/serve.md).\n";
}

int parse_int(const std::string& flag, const std::string& v, int lo, int hi) {
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty() || n < lo || n > hi)
    throw std::invalid_argument(flag + " must be an integer " + std::to_string(lo) + ".." + std::to_string(hi) +
                                ", got '" + v + "'");
  return static_cast<int>(n);
}

}  // namespace

int cmd_serve(int argc, char** argv) {
  ServeOptions serve;
  std::vector<char*> rest;  // for play's parser
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(serve_usage(), stdout);
      return 0;
    } else if (a == "--port") {
      serve.port = parse_int(a, value(), 0, 65535);
    } else if (a == "--bind") {
      serve.bind = value();
    } else if (a == "--token") {
      serve.token = value();
      if (serve.token.empty() || serve.token.size() > 128 ||
          serve.token.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
              std::string::npos)
        throw std::invalid_argument("--token must be 1..128 letters, digits, '-' or '_'");
    } else if (a == "--max-clients") {
      serve.max_clients = parse_int(a, value(), 1, 64);
    } else if (a == "--jpeg-quality") {
      serve.jpeg_quality = parse_int(a, value(), 1, 100);
    } else if (a == "--headless" || a == "--replay" || a == "--screenshot" || a == "--no-overlay" ||
               a == "--vsync" || a == "--vk-validation") {
      throw std::invalid_argument(a + " is for play; serve has no window and plays live");
    } else {
      rest.push_back(argv[i]);
    }
  }
  const PlayOptions play = parse_play_options(static_cast<int>(rest.size()), rest.data());
  const PlayConfig config =
      PlayConfig::load_or_create(play.config.empty() ? PlayConfig::default_path() : play.config);
  return run_serve(play, serve, config);
}

}  // namespace wl::app
