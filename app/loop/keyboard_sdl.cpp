#include "app/loop/keyboard_sdl.h"

#include <stdexcept>

#include "runtime/core/actions.h"

namespace wl::app {

namespace {

std::optional<KeyCommand> command_named(const std::string& n) {
  if (n == "pause") return KeyCommand::Pause;
  if (n == "step") return KeyCommand::Step;
  if (n == "reset") return KeyCommand::Reset;
  if (n == "screenshot") return KeyCommand::Screenshot;
  if (n == "record") return KeyCommand::Record;
  if (n == "overlay") return KeyCommand::Overlay;
  if (n == "quit") return KeyCommand::Quit;
  if (n == "save_state") return KeyCommand::SaveState;
  if (n == "load_state") return KeyCommand::LoadState;
  return std::nullopt;
}

}  // namespace

KeyBindings::KeyBindings(const PlayConfig& config) {
  for (const auto& [name, keys] : config.bindings) {
    const uint32_t bit = action_bit_from_name(name);
    const auto cmd = command_named(name);
    if (!bit && !cmd) throw std::runtime_error("config: unknown binding '" + name + "'");
    for (const std::string& key : keys) {
      const SDL_Scancode sc = SDL_GetScancodeFromName(key.c_str());
      if (sc == SDL_SCANCODE_UNKNOWN) throw std::runtime_error("config: unknown key '" + key + "' for " + name);
      if (bit) actions_.emplace_back(sc, bit);
      else commands_.emplace_back(sc, *cmd);
    }
  }
}

uint32_t KeyBindings::held_actions(const Uint8* state) const {
  uint32_t keys = 0;
  for (const auto& [sc, bit] : actions_)
    if (state[sc]) keys |= bit;
  return keys;
}

std::optional<KeyCommandHit> KeyBindings::command_for(SDL_Scancode sc) const {
  for (const auto& [key, cmd] : commands_)
    if (key == sc) return KeyCommandHit{cmd};
  if (sc >= SDL_SCANCODE_1 && sc <= SDL_SCANCODE_9) return KeyCommandHit{KeyCommand::Preset, sc - SDL_SCANCODE_1};
  return std::nullopt;
}

}  // namespace wl::app
