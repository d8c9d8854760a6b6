// A scripted input sequence keyed by session frame, for batch runs
// (--headless --record) and for reproducing a session in a window. JSON:
//   [{"frame": 0,  "keys": ["forward"]},
//    {"frame": 30, "keys": ["forward", "look_left"]},
//    {"frame": 45, "prompt": "snowy forest"},
//    {"frame": 60, "keys": []}]
// Keys stay held until the next event that names keys; a prompt switches at
// the first chunk boundary at or after its frame.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wl::app {

class ActionScript {
 public:
  struct Event {
    int64_t frame = 0;
    bool sets_keys = false;
    uint32_t keys = 0;
    std::string prompt;  // empty: no switch
  };

  static ActionScript load(const std::string& path);    // throws on bad input
  static ActionScript parse(const std::string& json);  // throws on bad input
  explicit ActionScript(std::vector<Event> events = {});

  // Keys held at session frame `frame`.
  uint32_t keys_at(int64_t frame) const;
  // Prompts whose frame lies in (after, upto], in order.
  std::vector<std::string> prompts_between(int64_t after, int64_t upto) const;
  bool empty() const { return events_.empty(); }

 private:
  std::vector<Event> events_;  // sorted by frame
};

}  // namespace wl::app
