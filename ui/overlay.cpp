#include "ui/overlay.h"

#include <imgui.h>

namespace wl::ui {

OverlayActions Overlay::draw(const OverlayState& state, OverlayView& view) {
  OverlayActions out;
  if (!view.visible) return out;
  draw_hud(state);
  draw_cache(state, view, out);
  draw_controls(state, view, out);
  return out;
}

}  // namespace wl::ui
