// Controls: prompt box (Enter switches at the next chunk boundary), presets
// 1-9, seed and reset, pause/step, recording, view options.
#include <cstdio>
#include <cstring>

#include <imgui.h>

#include "ui/overlay.h"

namespace wl::ui {

void Overlay::draw_controls(const OverlayState& s, OverlayView& view, OverlayActions& out) {
  const ImVec2 display = ImGui::GetIO().DisplaySize;
  ImGui::SetNextWindowPos(ImVec2(8, display.y - 8), ImGuiCond_FirstUseEver, ImVec2(0, 1));
  ImGui::SetNextWindowSize(ImVec2(560, 0), ImGuiCond_FirstUseEver);
  ImGui::Begin("World", nullptr, ImGuiWindowFlags_NoFocusOnAppearing | ImGuiWindowFlags_AlwaysAutoResize);
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
    for (size_t i = s.saved_states.size(); i-- > 0;) {  // newest first
      ImGui::PushID(static_cast<int>(i));
      if (ImGui::SmallButton(i + 1 == s.saved_states.size() ? "Load (F8)" : "Load")) out.load_state = i;
      ImGui::PopID();
      ImGui::SameLine();
      ImGui::TextUnformatted(s.saved_states[i].c_str());
    }
  }
  if (s.recording) ImGui::TextColored(ImVec4(1.0f, 0.35f, 0.3f, 1.0f), "REC %s", s.recording_desc.c_str());
  if (!s.status_line.empty()) ImGui::TextDisabled("%s", s.status_line.c_str());
  ImGui::End();
}

}  // namespace wl::ui
