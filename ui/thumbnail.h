// Small pictures of saved world states for the controls panel. ImGui 1.86's
// Vulkan backend draws only its font texture, so a thumbnail is drawn as a
// grid of filled cells (one per thumbnail pixel) with ImGui's draw list.
#pragma once

#include <cstdint>
#include <vector>

namespace wl::ui {

struct Thumbnail {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3, top row first
  bool empty() const { return width == 0 || height == 0; }
};

// A box-filtered copy of an RGB8 frame whose longer side is at most
// `max_side` pixels (never larger than the frame). Empty for an empty frame.
Thumbnail make_thumbnail(const uint8_t* rgb, int width, int height, int max_side);

}  // namespace wl::ui
