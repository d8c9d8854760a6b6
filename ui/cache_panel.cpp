// Cache view: the blocks x cached-frames grid coloured by slot kind, budget
// and bytes, and the token-score heatmap of the newest cached frame.
#include <algorithm>
#include <cmath>

#include <imgui.h>

#include "cache/cache_policy.h"
#include "ui/overlay.h"

namespace wl::ui {

namespace {

ImU32 kind_colour(cache::SlotKind k, float fill) {
  const float a = 0.35f + 0.65f * std::clamp(fill, 0.0f, 1.0f);
  switch (k) {
    case cache::SlotKind::Sink: return ImGui::GetColorU32(ImVec4(0.95f, 0.75f, 0.20f, a));
    case cache::SlotKind::Kept: return ImGui::GetColorU32(ImVec4(0.25f, 0.70f, 0.35f, a));
    case cache::SlotKind::Merged: return ImGui::GetColorU32(ImVec4(0.30f, 0.55f, 0.95f, a));
    case cache::SlotKind::Evicted: return ImGui::GetColorU32(ImVec4(0.85f, 0.25f, 0.25f, 0.9f));
  }
  return 0;
}

// Same colormap family as the heatmap shader (Turbo, polynomial fit).
ImU32 turbo(float x) {
  x = std::clamp(x, 0.0f, 1.0f);
  const float x2 = x * x, x3 = x2 * x, x4 = x3 * x, x5 = x4 * x;
  const float r = 0.13572138f + 4.61539260f * x - 42.66032258f * x2 + 132.13108234f * x3 - 152.94239396f * x4 + 59.28637943f * x5;
  const float g = 0.09140261f + 2.19418839f * x + 4.84296658f * x2 - 14.18503333f * x3 + 4.27729857f * x4 + 2.82956604f * x5;
  const float b = 0.10667330f + 12.64194608f * x - 60.58204836f * x2 + 110.36276771f * x3 - 89.90310912f * x4 + 27.34824973f * x5;
  return ImGui::GetColorU32(ImVec4(std::clamp(r, 0.f, 1.f), std::clamp(g, 0.f, 1.f), std::clamp(b, 0.f, 1.f), 1.f));
}

void legend_item(const char* name, ImU32 colour) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const float h = ImGui::GetTextLineHeight();
  dl->AddRectFilled(p, ImVec2(p.x + h, p.y + h), colour);
  ImGui::Dummy(ImVec2(h, h));
  ImGui::SameLine();
  ImGui::TextUnformatted(name);
  ImGui::SameLine();
}

}  // namespace

void Overlay::draw_cache(const OverlayState& s, OverlayView& view, OverlayActions& out) {
  const ImVec2 display = ImGui::GetIO().DisplaySize;
  ImGui::SetNextWindowPos(ImVec2(display.x - 352, 8), ImGuiCond_FirstUseEver);
  ImGui::SetNextWindowSize(ImVec2(340, 0), ImGuiCond_FirstUseEver);
  ImGui::Begin("KV cache", nullptr, ImGuiWindowFlags_NoFocusOnAppearing | ImGuiWindowFlags_AlwaysAutoResize);
  const cache::CacheStats& c = s.cache;
  const float width = 320.0f;
  if (c.empty()) {
    ImGui::TextDisabled("no cache statistics from this world");
    ImGui::End();
    return;
  }
  ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + width);
  ImGui::TextWrapped("policy: %s", c.policy.c_str());
  ImGui::PopTextWrapPos();
  ImGui::Text("budget %lld tokens/block   policy %.2f ms", static_cast<long long>(c.budget_tokens), c.policy_ms);

  // Live policy and budget: applied by the model thread at the next chunk boundary.
  static const std::vector<std::string> kPolicies = cache::policy_names();  // the registry's list
  if (c.tokens_per_frame > 0) {
    if (policy_choice_ < 0) {
      policy_choice_ = 0;
      for (size_t i = 0; i < kPolicies.size(); ++i)
        if (c.policy == kPolicies[i]) policy_choice_ = static_cast<int>(i);
      budget_frames_input_ = static_cast<int>(c.budget_tokens / c.tokens_per_frame);
    }
    ImGui::SetNextItemWidth(width * 0.35f);
    ImGui::Combo(
        "##policy", &policy_choice_,
        [](void*, int i, const char** text) {
          *text = kPolicies[static_cast<size_t>(i)].c_str();
          return true;
        },
        nullptr, static_cast<int>(kPolicies.size()));
    ImGui::SameLine();
    ImGui::SetNextItemWidth(width * 0.3f);
    ImGui::InputInt("frames##budget", &budget_frames_input_);
    ImGui::SameLine();
    if (ImGui::Button("Apply")) {
      out.cache_policy = kPolicies[policy_choice_];
      out.cache_budget_frames = std::max(1, budget_frames_input_);
    }
  }
  const float mib = static_cast<float>(c.bytes_used) / (1024.0f * 1024.0f);
  if (c.bytes_budget > 0) {
    char overlay[64];
    std::snprintf(overlay, sizeof overlay, "%.2f / %.2f MiB", mib,
                  static_cast<float>(c.bytes_budget) / (1024.0f * 1024.0f));
    ImGui::ProgressBar(static_cast<float>(c.bytes_used) / static_cast<float>(c.bytes_budget), ImVec2(width, 0), overlay);
  } else {
    ImGui::Text("%.2f MiB held", mib);
  }

  // Grid: one row per block, one column per cached frame.
  const size_t cols = c.frames.size();
  const float cell = std::clamp(width / static_cast<float>(std::max<size_t>(cols, 1)), 4.0f, 22.0f);
  const float cell_h = std::clamp(110.0f / static_cast<float>(std::max(c.blocks, 1)), 3.0f, 14.0f);
  int32_t max_tokens = 1;
  for (const auto& slot : c.slots) max_tokens = std::max(max_tokens, slot.tokens);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  ImVec2 origin = ImGui::GetCursorScreenPos();
  for (int b = 0; b < c.blocks; ++b)
    for (size_t f = 0; f < cols; ++f) {
      const cache::SlotStats& slot = c.slot(b, f);
      const ImVec2 p0(origin.x + static_cast<float>(f) * cell, origin.y + static_cast<float>(b) * cell_h);
      const ImVec2 p1(p0.x + cell - 1, p0.y + cell_h - 1);
      dl->AddRectFilled(p0, p1, kind_colour(slot.kind, static_cast<float>(slot.tokens) / static_cast<float>(max_tokens)));
    }
  ImGui::Dummy(ImVec2(cell * static_cast<float>(cols), cell_h * static_cast<float>(c.blocks)));
  if (ImGui::IsItemHovered()) {
    const ImVec2 m = ImGui::GetIO().MousePos;
    const int f = static_cast<int>((m.x - origin.x) / cell), b = static_cast<int>((m.y - origin.y) / cell_h);
    if (f >= 0 && static_cast<size_t>(f) < cols && b >= 0 && b < c.blocks) {
      const cache::SlotStats& slot = c.slot(b, static_cast<size_t>(f));
      ImGui::SetTooltip("block %d, frame %lld: %s, %d tokens", b, static_cast<long long>(c.frames[static_cast<size_t>(f)]),
                        cache::slot_kind_name(slot.kind), slot.tokens);
    }
  }
  ImGui::TextDisabled("blocks (rows) x cached frames %lld..%lld", static_cast<long long>(c.frames.front()),
                      static_cast<long long>(c.frames.back()));
  legend_item("sink", kind_colour(cache::SlotKind::Sink, 1));
  legend_item("kept", kind_colour(cache::SlotKind::Kept, 1));
  legend_item("merged", kind_colour(cache::SlotKind::Merged, 1));
  legend_item("evicted", kind_colour(cache::SlotKind::Evicted, 1));
  ImGui::NewLine();

  // Token scores of the newest frame that has them.
  const cache::TokenScoreGrid* grid = nullptr;
  for (auto it = c.token_scores.rbegin(); it != c.token_scores.rend(); ++it)
    if (!it->empty()) {
      grid = &*it;
      break;
    }
  ImGui::Separator();
  if (!grid) {
    ImGui::TextDisabled("no token scores");
    ImGui::End();
    return;
  }
  float lo = grid->scores[0], hi = grid->scores[0];
  for (float v : grid->scores) lo = std::min(lo, v), hi = std::max(hi, v);
  ImGui::Text("token scores, newest frame %dx%d", grid->rows, grid->cols);
  ImGui::TextDisabled("range %.3g .. %.3g", lo, hi);
  const float tw = std::min(width / static_cast<float>(grid->cols), 12.0f);
  origin = ImGui::GetCursorScreenPos();
  for (int r = 0; r < grid->rows; ++r)
    for (int k = 0; k < grid->cols; ++k) {
      const float v = grid->scores[static_cast<size_t>(r) * grid->cols + k];
      const ImVec2 p0(origin.x + static_cast<float>(k) * tw, origin.y + static_cast<float>(r) * tw);
      dl->AddRectFilled(p0, ImVec2(p0.x + tw, p0.y + tw), turbo(hi > lo ? (v - lo) / (hi - lo) : 0.0f));
    }
  ImGui::Dummy(ImVec2(tw * static_cast<float>(grid->cols), tw * static_cast<float>(grid->rows)));
  ImGui::Checkbox("heatmap on frame", &view.heatmap_on_frame);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(140);
  ImGui::SliderFloat("##opacity", &view.heatmap_opacity, 0.1f, 1.0f, "opacity %.2f");
  ImGui::End();
}

}  // namespace wl::ui
