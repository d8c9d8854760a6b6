// Per-frame player actions: what the keyboard held while one frame was made.
// Sampled once per frame (never once per chunk) and handed to the frame source
// frame by frame.
#pragma once

#include <cstdint>
#include <string>

namespace wl {

enum ActionBit : uint32_t {
  kActForward = 1u << 0,    // W
  kActBack = 1u << 1,       // S
  kActLeft = 1u << 2,       // A (strafe)
  kActRight = 1u << 3,      // D (strafe)
  kActLookUp = 1u << 4,     // arrow up
  kActLookDown = 1u << 5,   // arrow down
  kActLookLeft = 1u << 6,   // arrow left
  kActLookRight = 1u << 7,  // arrow right
};
inline constexpr int kActionBitCount = 8;

struct FrameActions {
  uint32_t keys = 0;      // ActionBit mask
  float mouse_dx = 0.0f;  // extra continuous input (reserved for mouse look)
  float mouse_dy = 0.0f;

  bool held(ActionBit b) const { return (keys & b) != 0; }
  friend bool operator==(const FrameActions&, const FrameActions&) = default;
};

// Bit for a name ("forward", "back", ... or "W", "S", ... as used in config
// files and action scripts), or 0 when unknown.
uint32_t action_bit_from_name(const std::string& name);
// "W+LookLeft" style, for logs and the overlay; "-" when nothing is held.
std::string describe_actions(uint32_t keys);

}  // namespace wl
