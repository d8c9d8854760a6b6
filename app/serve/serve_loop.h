// `worldloop serve`: the world runs without a window, in real time, and is
// played from a browser (app/serve/page.html) through the web server
// (app/serve/web_server.h): frames go out as JPEG, the HUD numbers and the
// cache as JSON, and held keys, prompts and commands come back.
#pragma once

#include <cstdint>
#include <string>

#include "app/loop/play_config.h"
#include "app/loop/play_options.h"

namespace wl::app {

struct ServeOptions {
  std::string bind = "127.0.0.1";
  int port = 8080;        // 0: any free port
  std::string token;      // empty: none on loopback, a random one elsewhere
  int max_clients = 8;
  int jpeg_quality = 90;
};

int run_serve(const PlayOptions& play, const ServeOptions& serve, const PlayConfig& config);

}  // namespace wl::app
