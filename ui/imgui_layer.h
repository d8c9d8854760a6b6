// Dear ImGui on top of the presenter: context, the SDL2 input backend and the
// Vulkan renderer backend (drawn inside the presenter's render pass).
#pragma once

#include <SDL.h>
#include <vulkan/vulkan.h>

#include "render/presenter.h"

namespace wl::ui {

class ImGuiLayer {
 public:
  ImGuiLayer(SDL_Window* window, render::Presenter& presenter);
  ~ImGuiLayer();
  ImGuiLayer(const ImGuiLayer&) = delete;
  ImGuiLayer& operator=(const ImGuiLayer&) = delete;

  // True when ImGui used the event (e.g. typing in the prompt box).
  bool process_event(const SDL_Event& e);
  bool wants_keyboard() const;
  void begin_frame();
  void end_frame();                  // finalises the draw data
  void record(VkCommandBuffer cmd);  // inside the render pass

 private:
  render::Presenter& presenter_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
};

}  // namespace wl::ui
