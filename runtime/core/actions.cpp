#include "runtime/core/actions.h"

namespace wl {

namespace {
const char* const kNames[kActionBitCount] = {"forward",   "back",      "left",      "right",
                                             "look_up",   "look_down", "look_left", "look_right"};
const char* const kShort[kActionBitCount] = {"W", "S", "A", "D", "Up", "Down", "Left", "Right"};
}  // namespace

uint32_t action_bit_from_name(const std::string& name) {
  for (int i = 0; i < kActionBitCount; ++i)
    if (name == kNames[i] || name == kShort[i]) return 1u << i;
  return 0;
}

std::string describe_actions(uint32_t keys) {
  std::string s;
  for (int i = 0; i < kActionBitCount; ++i) {
    if (!(keys & (1u << i))) continue;
    if (!s.empty()) s += '+';
    s += kShort[i];
  }
  return s.empty() ? "-" : s;
}

}  // namespace wl
