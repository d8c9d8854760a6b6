#include "app/loop/play_config.h"

#include "runtime/core/error.h"
#include "runtime/core/input_file.h"
#include "runtime/core/output_file.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace wl::app {

PlayConfig PlayConfig::defaults() {
  PlayConfig c;
  c.bindings = {
      {"forward", {"W"}},         {"back", {"S"}},           {"left", {"A"}},
      {"right", {"D"}},           {"look_up", {"Up"}},       {"look_down", {"Down"}},
      {"look_left", {"Left"}},    {"look_right", {"Right"}}, {"pause", {"P"}},
      {"step", {"N"}},            {"reset", {"R"}},          {"screenshot", {"F12"}},
      {"record", {"F9"}},         {"overlay", {"F1"}},       {"quit", {"Escape"}},
      {"save_state", {"F5"}},     {"load_state", {"F8"}},
  };
  c.presets = {"summer meadow", "snowy forest", "desert dunes at noon", "lava night", "swamp in fog",
               "autumn park",   "neon city",    "underwater reef",      "moon surface"};
  c.default_prompt = "";  // the world's first preset (or, with none, the first of these)
  return c;
}

std::string PlayConfig::default_path() {
  namespace fs = std::filesystem;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return (fs::path(xdg) / "worldloop" / "play.json").string();
  if (const char* home = std::getenv("HOME"); home && *home)
    return (fs::path(home) / ".config" / "worldloop" / "play.json").string();
  return {};
}

std::string PlayConfig::to_json() const {
  nlohmann::ordered_json j;
  j["default_prompt"] = default_prompt;
  j["presets"] = presets;
  j["bindings"] = bindings;
  return j.dump(2) + "\n";
}

PlayConfig PlayConfig::load_or_create(const std::string& path) {
  namespace fs = std::filesystem;
  PlayConfig c = defaults();
  if (path.empty()) return c;
  if (!fs::exists(path)) {
    std::error_code ec;
    if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path(), ec);
    try {
      write_file_replacing(path, c.to_json());  // never through a dangling symlink, never half written
    } catch (const Error&) {
      // best effort: an unwritable home still plays
    }
    return c;
  }
  // A regular file of bounded size (a FIFO used to block, /dev/zero to read
  // forever), duplicate keys refused; errors name the file.
  return parse(read_small_file(path, "the play config", InputLimits::kJsonBytes), path);
}

PlayConfig PlayConfig::parse(const std::string& text, const std::string& path) {
  PlayConfig c = defaults();
  const nlohmann::json j = parse_json_strict(text, path);
  if (!j.is_object()) throw std::runtime_error("config '" + path + "': must be a JSON object");
  if (j.contains("bindings") && !j["bindings"].is_object())
    throw std::runtime_error("config '" + path + "': bindings must be an object of action -> key names");
  try {
    if (j.contains("default_prompt")) c.default_prompt = j["default_prompt"].get<std::string>();
    if (j.contains("presets")) c.presets = j["presets"].get<std::vector<std::string>>();
    if (j.contains("bindings"))
      for (const auto& [name, keys] : j["bindings"].items())
        c.bindings[name] = keys.is_string() ? std::vector<std::string>{keys.get<std::string>()}
                                            : keys.get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    throw std::runtime_error("config '" + path + "': " + e.what());
  }
  if (c.presets.size() > 9) c.presets.resize(9);
  return c;
}

}  // namespace wl::app
