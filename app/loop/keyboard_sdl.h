// Key bindings resolved to SDL scancodes: held movement/look keys are read
// every frame from SDL's keyboard state; command keys fire on key-down.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <SDL.h>

#include "app/loop/play_config.h"

namespace wl::app {

enum class KeyCommand { Pause, Step, Reset, Screenshot, Record, Overlay, Quit, Preset, SaveState, LoadState };

struct KeyCommandHit {
  KeyCommand command;
  int preset = -1;  // 0-based, for KeyCommand::Preset (keys 1-9)
};

class KeyBindings {
 public:
  // Throws on a key name SDL does not know.
  explicit KeyBindings(const PlayConfig& config);

  uint32_t held_actions(const Uint8* keyboard_state) const;
  std::optional<KeyCommandHit> command_for(SDL_Scancode sc) const;

 private:
  std::vector<std::pair<SDL_Scancode, uint32_t>> actions_;
  std::vector<std::pair<SDL_Scancode, KeyCommand>> commands_;
};

}  // namespace wl::app
