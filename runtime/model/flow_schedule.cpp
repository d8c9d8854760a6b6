#include "runtime/model/flow_schedule.h"

#include <cctype>

#include "runtime/core/error.h"

namespace wl {

FlowSchedule::FlowSchedule(std::vector<int> steps, double shift) : steps_(std::move(steps)), shift_(shift) {
  if (steps_.empty()) throw Error("step list is empty");
  if (!(shift > 0)) throw Error("shift must be positive, got " + std::to_string(shift));
  for (size_t i = 0; i < steps_.size(); ++i) {
    const int s = steps_[i];
    if (s < 1 || s > 1000) throw Error("step " + std::to_string(s) + " is outside 1..1000");
    if (i && s >= steps_[i - 1]) throw Error("step list must decrease, got " + std::to_string(steps_[i - 1]) +
                                             " then " + std::to_string(s));
    // sigma = linspace(1, 0, 1001)[1000 - s] = s / 1000, warped as the reference does in float32.
    const float sigma = static_cast<float>(s) / 1000.0f;
    const float warped = static_cast<float>(shift) * sigma / (1.0f + static_cast<float>(shift - 1.0) * sigma);
    timesteps_.push_back(warped * 1000.0f);
  }
}

std::vector<int> FlowSchedule::parse_steps(const std::string& text) {
  std::vector<int> out;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(cur, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != cur.size()) throw Error("step list entry '" + cur + "' is not an integer");
    out.push_back(v);
    cur.clear();
  };
  for (char ch : text) {
    if (ch == ',' || ch == '[' || ch == ']' || std::isspace(static_cast<unsigned char>(ch))) flush();
    else cur += ch;
  }
  flush();
  if (out.empty()) throw Error("step list '" + text + "' holds no steps");
  return out;
}

}  // namespace wl
