#include "app/loop/input_log.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/record/frame_writer.h"
#include "runtime/core/error.h"
#include "runtime/core/input_file.h"
#include "runtime/core/output_file.h"

namespace wl::app {

namespace {
constexpr int kInputLogVersion = 1;
constexpr uint64_t kMaxLogBytes = 256ull << 20;
constexpr int64_t kMaxLogFrames = int64_t{1} << 31;
}  // namespace

void InputLog::record_actions(int64_t first_seq, const std::vector<FrameActions>& actions) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t at = first_seq - first_frame;
  if (at < 0) return;
  if (static_cast<int64_t>(actions_.size()) < at + static_cast<int64_t>(actions.size()))
    actions_.resize(static_cast<size_t>(at) + actions.size());
  for (size_t j = 0; j < actions.size(); ++j) actions_[static_cast<size_t>(at) + j] = actions[j];
}

void InputLog::record_command(int64_t frame, const InputEvent& e) {
  using Kind = InputEvent::Kind;
  if (e.kind != Kind::Prompt && e.kind != Kind::Cache && e.kind != Kind::Reset) return;
  std::lock_guard<std::mutex> lock(mu_);
  commands_.push_back({frame, e.kind, e.text, e.seed, e.budget_frames});
}

int64_t InputLog::frames() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(actions_.size());
}

FrameActions InputLog::actions_at(int64_t frame) const {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t at = frame - first_frame;
  if (at < 0 || at >= static_cast<int64_t>(actions_.size())) return {};
  return actions_[static_cast<size_t>(at)];
}

std::vector<InputLog::Command> InputLog::commands() const {
  std::lock_guard<std::mutex> lock(mu_);
  return commands_;
}

void InputLog::write(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the input log's folder: " + ec.message());
  const std::string path = (std::filesystem::path(dir) / "inputs.json").string();
  check_output_file(path, "the input log");
  nlohmann::json j;
  j["format"] = "worldloop-inputs";
  j["version"] = kInputLogVersion;
  j["world"] = world;
  j["world_name"] = world_name;
  j["compute"] = compute;
  j["options"] = {{"model", options.model},
                  {"seed", std::to_string(options.seed)},
                  {"prompt", options.prompt.value_or("")},
                  {"policy", options.policy},
                  {"budget_frames", options.budget_frames},
                  {"precision", options.precision},
                  {"load", options.load_state}};
  j["first_frame"] = first_frame;
  std::lock_guard<std::mutex> lock(mu_);
  j["frames"] = actions_.size();
  nlohmann::json rows = nlohmann::json::array();
  for (size_t f = 0; f < actions_.size(); ++f)
    if (f == 0 || !(actions_[f] == actions_[f - 1]))
      rows.push_back({first_frame + static_cast<int64_t>(f), actions_[f].keys, actions_[f].mouse_dx, actions_[f].mouse_dy});
  j["actions"] = rows;
  nlohmann::json cmds = nlohmann::json::array();
  for (const Command& c : commands_) {
    nlohmann::json e = {{"frame", c.frame}};
    if (c.kind == InputEvent::Kind::Prompt) e["prompt"] = c.text;
    if (c.kind == InputEvent::Kind::Cache) {
      e["cache"] = c.text;
      e["budget_frames"] = c.budget_frames;
    }
    if (c.kind == InputEvent::Kind::Reset) e["reset"] = std::to_string(c.seed);
    cmds.push_back(e);
  }
  j["commands"] = cmds;
  write_file_replacing(path, j.dump(1) + "\n");  // a fresh temporary file renamed into place
}

std::unique_ptr<InputLog> InputLog::read(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "inputs.json").string();
  const nlohmann::json j = parse_json_strict(read_small_file(path, "the input log", kMaxLogBytes), path);
  auto fail = [&](const std::string& what) -> void { throw Error(path + ": " + what); };
  auto str = [&](const nlohmann::json& o, const char* key) -> std::string {
    if (!o.is_object() || !o.contains(key) || !o[key].is_string()) fail(std::string("'") + key + "' is not a string");
    return o[key].get<std::string>();
  };
  auto integer = [&](const nlohmann::json& o, const char* key, int64_t lo, int64_t hi) -> int64_t {
    if (!o.is_object() || !o.contains(key) || !o[key].is_number_integer()) fail(std::string("'") + key + "' is not an integer");
    const int64_t v = o[key].get<int64_t>();
    if (v < lo || v > hi) fail(std::string("'") + key + "' is " + std::to_string(v) + ", out of range");
    return v;
  };
  auto seed_of = [&](const std::string& s) -> uint64_t {
    size_t used = 0;
    try {
      const uint64_t v = std::stoull(s, &used);
      if (used == s.size() && !s.empty() && s[0] != '-') return v;
    } catch (const std::exception&) {
    }
    fail("the seed '" + s + "' is not a number");
    return 0;
  };
  if (!j.is_object() || str(j, "format") != "worldloop-inputs") fail("not a worldloop input log");
  if (integer(j, "version", 0, 1 << 20) != kInputLogVersion)
    fail("an input log of version " + j["version"].dump() + "; this build reads version " +
         std::to_string(kInputLogVersion));
  auto owned = std::make_unique<InputLog>();
  InputLog& log = *owned;
  log.world = str(j, "world");
  log.world_name = str(j, "world_name");
  log.compute = str(j, "compute");
  if (!j.contains("options")) fail("'options' is missing");
  const nlohmann::json& o = j["options"];
  log.options.model = str(o, "model");
  log.options.seed = seed_of(str(o, "seed"));
  log.options.prompt = str(o, "prompt");
  log.options.policy = str(o, "policy");
  log.options.budget_frames = integer(o, "budget_frames", 0, 4096);
  log.options.precision = str(o, "precision");
  log.options.load_state = str(o, "load");
  log.first_frame = integer(j, "first_frame", 0, kMaxLogFrames);
  const int64_t frames = integer(j, "frames", 0, kMaxLogFrames);
  if (!j.contains("actions") || !j["actions"].is_array()) fail("'actions' is not a list");
  log.actions_.resize(static_cast<size_t>(frames));
  int64_t next = log.first_frame;  // rows in frame order
  FrameActions held;
  for (const nlohmann::json& r : j["actions"]) {
    if (!r.is_array() || r.size() != 4 || !r[0].is_number_integer() || !r[1].is_number_unsigned() ||
        !r[2].is_number() || !r[3].is_number() || r[1].get<uint64_t>() > 0xffffffffu)
      fail("an actions row is not [frame, keys, mouse_dx, mouse_dy]: " + r.dump().substr(0, 80));
    const int64_t f = r[0].get<int64_t>();
    if (f < next || f >= log.first_frame + frames) fail("actions row for frame " + std::to_string(f) + " is out of order");
    for (; next < f; ++next) log.actions_[static_cast<size_t>(next - log.first_frame)] = held;
    held.keys = r[1].get<uint32_t>();
    held.mouse_dx = r[2].get<float>();
    held.mouse_dy = r[3].get<float>();
  }
  for (; next < log.first_frame + frames; ++next) log.actions_[static_cast<size_t>(next - log.first_frame)] = held;
  if (!j.contains("commands") || !j["commands"].is_array()) fail("'commands' is not a list");
  for (const nlohmann::json& c : j["commands"]) {
    Command cmd;
    cmd.frame = integer(c, "frame", 0, kMaxLogFrames);
    if (c.contains("prompt")) {
      cmd.kind = InputEvent::Kind::Prompt;
      cmd.text = str(c, "prompt");
    } else if (c.contains("cache")) {
      cmd.kind = InputEvent::Kind::Cache;
      cmd.text = str(c, "cache");
      cmd.budget_frames = integer(c, "budget_frames", 0, 4096);
    } else if (c.contains("reset")) {
      cmd.kind = InputEvent::Kind::Reset;
      cmd.seed = seed_of(str(c, "reset"));
    } else {
      fail("a command is none of prompt, cache and reset: " + c.dump().substr(0, 80));
    }
    log.commands_.push_back(std::move(cmd));
  }
  return owned;
}

}  // namespace wl::app
