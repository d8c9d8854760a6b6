// Controls: prompt box (Enter switches at the next chunk boundary), presets
// 1-9, seed and reset, pause/step, recording, view options.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include <imgui.h>

#include "ui/overlay.h"

namespace wl::ui {
namespace {

// One filled cell per thumbnail pixel, `cell` screen pixels wide (ImGui 1.86's
// Vulkan backend has no user textures; ui/thumbnail.h).
void draw_thumbnail(const Thumbnail& t, float cell) {
  const ImVec2 at = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  for (int y = 0; y < t.height; ++y)
    for (int x = 0; x < t.width; ++x) {
      const uint8_t* p = &t.rgb[(static_cast<size_t>(y) * t.width + x) * 3];
      const ImVec2 a(at.x + x * cell, at.y + y * cell);
      dl->AddRectFilled(a, ImVec2(a.x + cell, a.y + cell), IM_COL32(p[0], p[1], p[2], 255));
    }
  ImGui::Dummy(ImVec2(t.width * cell, t.height * cell));
}

}  // namespace

void Overlay::draw_controls(const OverlayState& s, OverlayView& view, OverlayActions& out) {
  const ImVec2 display = ImGui::GetIO().DisplaySize;
  // Anchored to the bottom-left corner, so that it grows upwards as states
  // are saved and follows a resized window, until the user drags it away.
  if (!controls_moved_) ImGui::SetNextWindowPos(ImVec2(8, display.y - 8), ImGuiCond_Always, ImVec2(0, 1));
  ImGui::SetNextWindowSize(ImVec2(560, 0), ImGuiCond_FirstUseEver);
  ImGui::Begin("World", nullptr, ImGuiWindowFlags_NoFocusOnAppearing | ImGuiWindowFlags_AlwaysAutoResize);
  if (ImGui::IsWindowFocused() && ImGui::IsMouseDragging(ImGuiMouseButton_Left) && !ImGui::IsAnyItemActive())
    controls_moved_ = true;
  if (!prompt_buf_init_) {
    std::snprintf(prompt_buf_, sizeof prompt_buf_, "%s", s.prompt.c_str());
    seed_input_ = static_cast<int>(s.seed);
    prompt_buf_init_ = true;
  }
  ImGui::Text("%s  frame %lld  chunk %lld  keys %s%s", s.source_name.c_str(), static_cast<long long>(s.world_frame),
              static_cast<long long>(s.chunk), s.actions.c_str(), s.paused ? "  [PAUSED]" : "");
  ImGui::Text("prompt: %s", s.prompt.c_str());
  if (!s.pending_prompt.empty() && s.pending_prompt != s.prompt)
    ImGui::TextColored(ImVec4(1.0f, 0.8f, 0.3f, 1.0f), "switching at next chunk: %s", s.pending_prompt.c_str());
  ImGui::SetNextItemWidth(460);
  if (ImGui::InputText("##prompt", prompt_buf_, sizeof prompt_buf_, ImGuiInputTextFlags_EnterReturnsTrue)) {
    out.prompt = std::string(prompt_buf_);
    ImGui::SetKeyboardFocusHere(-1);
  }
  ImGui::SameLine();
  if (ImGui::Button("Submit")) out.prompt = std::string(prompt_buf_);
  for (size_t i = 0; i < s.presets.size(); ++i) {
    if (i % 4) ImGui::SameLine();
    char label[96];
    std::snprintf(label, sizeof label, "%zu %s", i + 1, s.presets[i].c_str());
    if (ImGui::SmallButton(label)) {
      out.prompt = s.presets[i];
      std::snprintf(prompt_buf_, sizeof prompt_buf_, "%s", s.presets[i].c_str());
    }
  }
  ImGui::Separator();
  if (ImGui::Button(s.paused ? "Resume (P)" : "Pause (P)")) out.toggle_pause = true;
  ImGui::SameLine();
  if (ImGui::Button("Step (N)")) out.step = true;
  ImGui::SameLine();
  ImGui::SetNextItemWidth(110);
  ImGui::InputInt("seed", &seed_input_);
  ImGui::SameLine();
  if (ImGui::Button("Reset (R)")) out.reset_seed = static_cast<uint64_t>(seed_input_ < 0 ? 0 : seed_input_);
  ImGui::SameLine();
  if (ImGui::Button(s.recording ? "Stop rec (F9)" : "Record (F9)")) out.toggle_record = true;
  ImGui::Checkbox("linear filter", &view.linear_filter);
  ImGui::SameLine();
  if (ImGui::Button("Screenshot (F12)")) out.screenshot = true;
  ImGui::SameLine();
  ImGui::TextDisabled("F1 hides the overlay");
  if (ImGui::Button("Save state (F5)")) out.save_state = true;
  if (!s.saved_states.empty()) {
    ImGui::SameLine();
    ImGui::TextDisabled("load one to go back there and try another path:");
    // Newest first, side by side: the picture when it was saved, Load, its frame.
    constexpr size_t kShown = 6;
    const size_t n = s.saved_states.size();
    for (size_t k = 0; k < std::min(n, kShown); ++k) {
      const size_t i = n - 1 - k;
      const std::string& label = s.saved_states[i];  // "file (frame N)"
      const size_t paren = label.rfind(" (");
      ImGui::PushID(static_cast<int>(i));
      ImGui::BeginGroup();
      if (i < s.saved_thumbnails.size() && !s.saved_thumbnails[i].empty()) draw_thumbnail(s.saved_thumbnails[i], 1.5f);
      if (ImGui::SmallButton(k == 0 ? "Load (F8)" : "Load")) out.load_state = i;
      ImGui::TextDisabled("%s", paren == std::string::npos ? "" : label.substr(paren + 2, label.size() - paren - 3).c_str());
      ImGui::EndGroup();
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", label.c_str());
      ImGui::PopID();
      if (k + 1 < std::min(n, kShown)) ImGui::SameLine();
    }
    if (n > kShown)
      ImGui::TextDisabled("%zu older states: play --load FILE opens one", n - kShown);
  }
  if (s.recording) ImGui::TextColored(ImVec4(1.0f, 0.35f, 0.3f, 1.0f), "REC %s", s.recording_desc.c_str());
  if (!s.status_line.empty()) ImGui::TextDisabled("%s", s.status_line.c_str());
  ImGui::End();
}

}  // namespace wl::ui
