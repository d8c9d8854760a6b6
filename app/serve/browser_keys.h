// The config's key names (SDL's, as in play.json: "W", "Up", "Left Shift",
// "F5") as a browser's KeyboardEvent.code ("KeyW", "ArrowUp", "ShiftLeft",
// "F5"), so that the page in `worldloop serve` honours the same bindings as
// the window. No SDL here: serve runs without a window build.
#pragma once

#include <string>

namespace wl::app {

// Empty when the name has no browser code (the binding then only works in the window).
std::string browser_key_code(const std::string& sdl_key_name);

}  // namespace wl::app
