// Performance HUD: present and world frame rates, frame-time graph with
// p50/p99, per-stage times of the newest chunk, input-to-display latency.
#include <algorithm>
#include <cstdio>

#include <imgui.h>

#include "ui/overlay.h"

namespace wl::ui {

void Overlay::draw_hud(const OverlayState& s) {
  ImGui::SetNextWindowPos(ImVec2(8, 8), ImGuiCond_FirstUseEver);
  ImGui::SetNextWindowSize(ImVec2(372, 0), ImGuiCond_FirstUseEver);
  ImGui::Begin("Performance", nullptr, ImGuiWindowFlags_NoFocusOnAppearing | ImGuiWindowFlags_AlwaysAutoResize);
  const float world_p50 = s.world_ms.percentile(50), present_p50 = s.present_ms.percentile(50);
  ImGui::Text("world %5.1f fps   present %5.1f fps", world_p50 > 0 ? 1000.0f / world_p50 : 0.0f,
              present_p50 > 0 ? 1000.0f / present_p50 : 0.0f);
  s.world_ms.ordered(scratch_);
  char label[96];
  std::snprintf(label, sizeof label, "p50 %.1f  p99 %.1f ms", world_p50, s.world_ms.percentile(99));
  ImGui::PlotLines("##world", scratch_.data(), static_cast<int>(scratch_.size()), 0, label, 0.0f,
                   std::max(50.0f, s.world_ms.percentile(99) * 1.2f), ImVec2(340, 56));
  ImGui::TextDisabled("world frame time (ms), %zu samples", scratch_.size());
  ImGui::Separator();
  const double per_frame = 1.0 / std::max(1, s.chunk_frames);
  ImGui::Text("per frame: denoise %.2f  cache %.2f  decode %.2f ms", s.stages.denoise * per_frame,
              s.stages.cache_update * per_frame, s.stages.decode * per_frame);
  if (s.stages.decode_hidden > 0)
    ImGui::Text("  decode hidden beside denoising: %.2f ms (%.0f%%)", s.stages.decode_hidden * per_frame,
                100.0 * s.stages.decode_hidden / std::max(1e-9, s.stages.decode));
  ImGui::Text("input->display  %.1f ms (p50 %.1f, p99 %.1f)", s.latency_ms.last(), s.latency_ms.percentile(50),
              s.latency_ms.percentile(99));
  ImGui::Text("present p99 %.1f ms   dropped %lld", s.present_ms.percentile(99),
              static_cast<long long>(s.dropped_frames));
  if (!s.compute.empty()) ImGui::TextDisabled("model: %s", s.compute.c_str());
  ImGui::TextDisabled("%s | %s", s.device_name.c_str(), s.present_mode.c_str());
  ImGui::End();
}

}  // namespace wl::ui
