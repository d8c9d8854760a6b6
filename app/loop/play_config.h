// User settings for `worldloop play`: key bindings (SDL key names such as "W",
// "Up", "F12", "Escape") and prompt presets. Stored as JSON; a default file is
// written on first use at $XDG_CONFIG_HOME/worldloop/play.json (or
// ~/.config/worldloop/play.json), or wherever --config points.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace wl::app {

struct PlayConfig {
  // Action or command name -> key names. Actions: forward, back, left, right,
  // look_up, look_down, look_left, look_right. Commands: pause, step, reset,
  // screenshot, record, overlay, quit.
  std::map<std::string, std::vector<std::string>> bindings;
  std::vector<std::string> presets;  // bound to keys 1..9 in order
  std::string default_prompt;  // the first prompt; empty: the world's first preset, else presets[0]

  static PlayConfig defaults();
  static std::string default_path();  // empty when no home directory is known
  // Reads `path`; if it does not exist, writes the defaults there first.
  // Missing entries fall back to the defaults. Throws on malformed JSON.
  static PlayConfig load_or_create(const std::string& path);
  // A config's text over the defaults, as load_or_create reads it; errors
  // name `path`. (The fuzz target tests/fuzz/fuzz_play_config.cpp calls it.)
  static PlayConfig parse(const std::string& text, const std::string& path);
  std::string to_json() const;
};

}  // namespace wl::app
