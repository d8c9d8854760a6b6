// The presenter's two graphics pipelines, built from the embedded SPIR-V:
// the frame blit (opaque) and the token-score heatmap (alpha-blended). Both
// draw one fullscreen triangle into the viewport, which the presenter sets to
// the letterboxed frame rectangle; both read one combined image sampler.
#pragma once

#include <vulkan/vulkan.h>

#include "render/vk_context.h"

namespace wl::render {

struct HeatmapParams {
  float opacity = 0.55f;
  float grid_lines = 1.0f;
};

class BlitPipelines {
 public:
  BlitPipelines(const VkContext& ctx, VkRenderPass pass);
  ~BlitPipelines();
  BlitPipelines(const BlitPipelines&) = delete;
  BlitPipelines& operator=(const BlitPipelines&) = delete;

  VkDescriptorSetLayout set_layout() const { return set_layout_; }
  VkPipelineLayout layout() const { return layout_; }
  VkPipeline blit() const { return blit_; }
  VkPipeline heatmap() const { return heatmap_; }

 private:
  VkPipeline make_pipeline(VkRenderPass pass, VkShaderModule vert, VkShaderModule frag, bool blend);

  const VkContext& ctx_;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline blit_ = VK_NULL_HANDLE;
  VkPipeline heatmap_ = VK_NULL_HANDLE;
};

}  // namespace wl::render
