#include "app/loop/action_script.h"

#include "runtime/core/input_file.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "runtime/core/actions.h"

namespace wl::app {

ActionScript::ActionScript(std::vector<Event> events) : events_(std::move(events)) {
  std::stable_sort(events_.begin(), events_.end(),
                   [](const Event& a, const Event& b) { return a.frame < b.frame; });
}

ActionScript ActionScript::load(const std::string& path) {
  // A regular file of bounded size: a FIFO used to block, /dev/zero to read forever.
  const std::string text = read_small_file(path, "the action script", InputLimits::kJsonBytes);
  try {
    parse_json_strict(text, path);  // duplicate keys refused
    return parse(text);
  } catch (const std::exception& e) {
    throw std::runtime_error("action script '" + path + "': " + e.what());
  }
}

ActionScript ActionScript::parse(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text);
  if (!j.is_array()) throw std::runtime_error("expected a JSON array of events");
  std::vector<Event> events;
  for (const auto& item : j) {
    Event e;
    const nlohmann::json& frame = item.at("frame");
    // A whole number of frames, 0 .. 2^40 (1e30 used to wrap and read as "negative").
    if (!frame.is_number_integer() || (frame.is_number_unsigned() && frame.get<uint64_t>() > (1ull << 40)) ||
        frame.get<int64_t>() < 0 || frame.get<int64_t>() > (int64_t{1} << 40))
      throw std::runtime_error("\"frame\" must be a whole frame number in 0..2^40, got " + frame.dump());
    e.frame = frame.get<int64_t>();
    if (item.contains("keys")) {
      e.sets_keys = true;
      for (const auto& k : item["keys"]) {
        const uint32_t bit = action_bit_from_name(k.get<std::string>());
        if (!bit) throw std::runtime_error("unknown action '" + k.get<std::string>() + "'");
        e.keys |= bit;
      }
    }
    if (item.contains("prompt")) e.prompt = item["prompt"].get<std::string>();
    events.push_back(std::move(e));
  }
  return ActionScript(std::move(events));
}

uint32_t ActionScript::keys_at(int64_t frame) const {
  uint32_t keys = 0;
  for (const Event& e : events_) {
    if (e.frame > frame) break;
    if (e.sets_keys) keys = e.keys;
  }
  return keys;
}

std::vector<std::string> ActionScript::prompts_between(int64_t after, int64_t upto) const {
  std::vector<std::string> out;
  for (const Event& e : events_)
    if (e.frame > after && e.frame <= upto && !e.prompt.empty()) out.push_back(e.prompt);
  return out;
}

}  // namespace wl::app
