#include "app/serve/serve_protocol.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "app/serve/browser_keys.h"
#include "runtime/core/actions.h"
#include "runtime/model/world.h"

namespace wl::app {
namespace {

using nlohmann::json;

const json& field(const json& j, const char* name, json::value_t type, const char* type_name) {
  const auto it = j.find(name);
  if (it == j.end()) throw std::invalid_argument(std::string("message has no \"") + name + "\"");
  const bool ok = type == json::value_t::number_integer
                      ? it->is_number_integer()
                      : it->type() == type;
  if (!ok) throw std::invalid_argument(std::string("\"") + name + "\" must be " + type_name);
  return *it;
}

}  // namespace

ClientMessage parse_client_message(const std::string& text) {
  if (text.size() > kMaxClientMessageBytes)
    throw std::invalid_argument("message of " + std::to_string(text.size()) + " bytes is over the limit of " +
                                std::to_string(kMaxClientMessageBytes));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // bad syntax, or a number out of range (1e400)
    throw std::invalid_argument(std::string("message is not JSON: ") + e.what());
  }
  if (!j.is_object()) throw std::invalid_argument("message must be a JSON object");
  const std::string type = field(j, "type", json::value_t::string, "a string").get<std::string>();
  ClientMessage m;
  if (type == "keys") {
    m.kind = ClientMessage::Kind::Keys;
    const json& held = field(j, "held", json::value_t::array, "an array of action names");
    if (held.size() > 32) throw std::invalid_argument("\"held\" lists more than 32 actions");
    for (const json& a : held) {
      if (!a.is_string()) throw std::invalid_argument("\"held\" must hold action names (strings)");
      const uint32_t bit = action_bit_from_name(a.get<std::string>());
      if (bit == 0) throw std::invalid_argument("unknown action '" + a.get<std::string>() + "'");
      m.keys |= bit;
    }
  } else if (type == "prompt") {
    m.kind = ClientMessage::Kind::Prompt;
    m.text = field(j, "text", json::value_t::string, "a string").get<std::string>();
    if (m.text.empty()) throw std::invalid_argument("the prompt is empty");
    if (m.text.size() > kMaxPromptChars)
      throw std::invalid_argument("the prompt is over " + std::to_string(kMaxPromptChars) + " bytes");
  } else if (type == "command") {
    m.kind = ClientMessage::Kind::Command;
    m.text = field(j, "name", json::value_t::string, "a string").get<std::string>();
    if (m.text != "pause" && m.text != "step" && m.text != "reset")
      throw std::invalid_argument("unknown command '" + m.text + "' (pause, step or reset)");
  } else if (type == "cache") {
    m.kind = ClientMessage::Kind::Cache;
    m.text = field(j, "policy", json::value_t::string, "a string").get<std::string>();
    if (j.contains("budget_frames")) {
      m.budget_frames = field(j, "budget_frames", json::value_t::number_integer, "an integer").get<int64_t>();
      if (m.budget_frames < 0 || m.budget_frames > kMaxBudgetFrames)
        throw std::invalid_argument("\"budget_frames\" must be 0.." + std::to_string(kMaxBudgetFrames));
    }
  } else {
    throw std::invalid_argument("unknown message type '" + type + "' (keys, prompt, command or cache)");
  }
  return m;
}

void add_key_maps(ServeHello& hello, const PlayConfig& config) {
  for (const auto& [name, keys] : config.bindings) {
    const bool action = action_bit_from_name(name) != 0;
    if (!action && name != "pause" && name != "step" && name != "reset") continue;  // not for a browser
    for (const std::string& k : keys) {
      const std::string code = browser_key_code(k);
      if (code.empty()) continue;
      (action ? hello.action_keys : hello.command_keys)[code] = name;
    }
  }
  for (size_t i = 0; i < hello.presets.size() && i < 9; ++i)
    hello.command_keys["Digit" + std::to_string(i + 1)] = "preset" + std::to_string(i + 1);
}

std::string hello_json(const ServeHello& h) {
  json j = {{"type", "hello"},   {"world", h.world},     {"compute", h.compute},
            {"width", h.width},  {"height", h.height},   {"chunk_frames", h.chunk_frames},
            {"fps", h.fps},      {"seed", h.seed},       {"prompt", h.prompt},
            {"presets", h.presets}, {"policies", h.policies}, {"action_keys", h.action_keys},
            {"command_keys", h.command_keys}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string status_json(const Frame& f, const ServeCounters& c) {
  json j = {{"type", "status"},
            {"frame", f.seq},
            {"world_frame", f.world_frame},
            {"chunk", f.chunk},
            {"prompt", f.prompt ? *f.prompt : std::string()},
            {"actions", describe_actions(f.actions.keys)},
            {"world_fps", c.world_fps},
            {"dropped", c.frames_dropped},
            {"clients", c.clients},
            {"paused", c.paused},
            {"notice", c.notice}};
  if (f.stats) {
    const auto& s = f.stats->stages;
    j["denoise_ms"] = s.denoise_ms;
    j["cache_update_ms"] = s.cache_update_ms;
    j["decode_ms"] = s.decode_ms;
    j["decode_hidden_ms"] = s.decode_hidden_ms;
    const cache::CacheStats& cs = f.stats->cache;
    const int64_t budget_frames = cs.tokens_per_frame > 0 ? cs.budget_tokens / cs.tokens_per_frame : 0;
    // Frames' worth of keys and values held (the stats' columns also list
    // the frames evicted by this chunk).
    const double held = cs.bytes_budget > 0 ? static_cast<double>(cs.bytes_used) * budget_frames / cs.bytes_budget
                                            : static_cast<double>(cs.frames.size());
    j["cache"] = {{"policy", cs.policy},
                  {"frames", held},
                  {"budget_frames", budget_frames},
                  {"bytes_used", cs.bytes_used},
                  {"bytes_budget", cs.bytes_budget},
                  {"policy_ms", cs.policy_ms}};
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string frame_message(int64_t seq, uint32_t keys, const std::string& jpeg) {
  std::string m(kFrameHeaderBytes, '\0');
  const uint64_t s = static_cast<uint64_t>(seq);
  for (int i = 0; i < 8; ++i) m[i] = static_cast<char>((s >> (8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i) m[8 + i] = static_cast<char>((keys >> (8 * i)) & 0xff);
  m += jpeg;
  return m;
}

}  // namespace wl::app
