#include "ui/imgui_layer.h"

#include <stdexcept>

#include <imgui.h>
#include <imgui_impl_sdl.h>
#include <imgui_impl_vulkan.h>

#include "render/vk_check.h"

namespace wl::ui {

namespace {
void check_vk(VkResult r) {
  if (r != VK_SUCCESS) render::vk_fail(r, "ImGui Vulkan backend");
}
}  // namespace

ImGuiLayer::ImGuiLayer(SDL_Window* window, render::Presenter& presenter) : presenter_(presenter) {
  const render::VkContext& ctx = presenter.context();
  VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 16}};
  VkDescriptorPoolCreateInfo dpi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dpi.flags = VK_DESCRIPTOR_POOL_CREATE_FREE_DESCRIPTOR_SET_BIT;
  dpi.maxSets = 16;
  dpi.poolSizeCount = 1;
  dpi.pPoolSizes = sizes;
  WL_VK_CHECK(vkCreateDescriptorPool(ctx.device, &dpi, nullptr, &pool_));

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // layout is fixed by the overlay; no imgui.ini in the working directory
  ImGui::StyleColorsDark();
  ImGuiStyle& style = ImGui::GetStyle();
  style.WindowRounding = 4.0f;
  style.Colors[ImGuiCol_WindowBg].w = 0.82f;

  if (!ImGui_ImplSDL2_InitForVulkan(window)) throw std::runtime_error("ImGui SDL2 backend failed to start");
  ImGui_ImplVulkan_InitInfo info{};
  info.Instance = ctx.instance;
  info.PhysicalDevice = ctx.physical_device;
  info.Device = ctx.device;
  info.QueueFamily = ctx.queue_family;
  info.Queue = ctx.queue;
  info.DescriptorPool = pool_;
  info.Subpass = 0;
  info.MinImageCount = presenter.min_image_count();
  info.ImageCount = presenter.image_count();
  info.MSAASamples = VK_SAMPLE_COUNT_1_BIT;
  info.CheckVkResultFn = check_vk;
  if (!ImGui_ImplVulkan_Init(&info, presenter.render_pass()))
    throw std::runtime_error("ImGui Vulkan backend failed to start");
  presenter.run_one_time([](VkCommandBuffer cmd) { ImGui_ImplVulkan_CreateFontsTexture(cmd); });
  ImGui_ImplVulkan_DestroyFontUploadObjects();
  presenter.set_swapchain_rebuilt_callback(
      [](uint32_t min_images) { ImGui_ImplVulkan_SetMinImageCount(min_images); });
}

ImGuiLayer::~ImGuiLayer() {
  presenter_.wait_idle();
  presenter_.set_swapchain_rebuilt_callback(nullptr);
  ImGui_ImplVulkan_Shutdown();
  ImGui_ImplSDL2_Shutdown();
  ImGui::DestroyContext();
  vkDestroyDescriptorPool(presenter_.context().device, pool_, nullptr);
}

bool ImGuiLayer::process_event(const SDL_Event& e) { return ImGui_ImplSDL2_ProcessEvent(&e); }

bool ImGuiLayer::wants_keyboard() const { return ImGui::GetIO().WantCaptureKeyboard; }

void ImGuiLayer::begin_frame() {
  ImGui_ImplVulkan_NewFrame();
  ImGui_ImplSDL2_NewFrame();
  ImGui::NewFrame();
}

void ImGuiLayer::end_frame() { ImGui::Render(); }

void ImGuiLayer::record(VkCommandBuffer cmd) { ImGui_ImplVulkan_RenderDrawData(ImGui::GetDrawData(), cmd); }

}  // namespace wl::ui
