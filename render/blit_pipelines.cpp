#include "render/blit_pipelines.h"

#include <cstdint>

#include "render/vk_check.h"

namespace wl::render {

namespace {

// SPIR-V words compiled by glslc -mfmt=c at build time (see render/CMakeLists.txt).
const uint32_t kFullscreenVert[] =
#include "fullscreen.vert.spv.inc"
    ;
const uint32_t kBlitFrag[] =
#include "blit.frag.spv.inc"
    ;
const uint32_t kHeatmapFrag[] =
#include "heatmap.frag.spv.inc"
    ;

VkShaderModule make_module(VkDevice device, const uint32_t* words, size_t bytes) {
  VkShaderModuleCreateInfo ci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  ci.codeSize = bytes;
  ci.pCode = words;
  VkShaderModule m;
  WL_VK_CHECK(vkCreateShaderModule(device, &ci, nullptr, &m));
  return m;
}

}  // namespace

BlitPipelines::BlitPipelines(const VkContext& ctx, VkRenderPass pass) : ctx_(ctx) {
  VkDescriptorSetLayoutBinding binding{};
  binding.binding = 0;
  binding.descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER;
  binding.descriptorCount = 1;
  binding.stageFlags = VK_SHADER_STAGE_FRAGMENT_BIT;
  VkDescriptorSetLayoutCreateInfo dli{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dli.bindingCount = 1;
  dli.pBindings = &binding;
  WL_VK_CHECK(vkCreateDescriptorSetLayout(ctx.device, &dli, nullptr, &set_layout_));

  VkPushConstantRange push{VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof(HeatmapParams)};
  VkPipelineLayoutCreateInfo pli{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pli.setLayoutCount = 1;
  pli.pSetLayouts = &set_layout_;
  pli.pushConstantRangeCount = 1;
  pli.pPushConstantRanges = &push;
  WL_VK_CHECK(vkCreatePipelineLayout(ctx.device, &pli, nullptr, &layout_));

  VkShaderModule vert = make_module(ctx.device, kFullscreenVert, sizeof kFullscreenVert);
  VkShaderModule blit = make_module(ctx.device, kBlitFrag, sizeof kBlitFrag);
  VkShaderModule heat = make_module(ctx.device, kHeatmapFrag, sizeof kHeatmapFrag);
  blit_ = make_pipeline(pass, vert, blit, false);
  heatmap_ = make_pipeline(pass, vert, heat, true);
  vkDestroyShaderModule(ctx.device, vert, nullptr);
  vkDestroyShaderModule(ctx.device, blit, nullptr);
  vkDestroyShaderModule(ctx.device, heat, nullptr);
}

BlitPipelines::~BlitPipelines() {
  vkDestroyPipeline(ctx_.device, blit_, nullptr);
  vkDestroyPipeline(ctx_.device, heatmap_, nullptr);
  vkDestroyPipelineLayout(ctx_.device, layout_, nullptr);
  vkDestroyDescriptorSetLayout(ctx_.device, set_layout_, nullptr);
}

VkPipeline BlitPipelines::make_pipeline(VkRenderPass pass, VkShaderModule vert, VkShaderModule frag, bool blend) {
  VkPipelineShaderStageCreateInfo stages[2]{};
  stages[0] = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, nullptr, 0, VK_SHADER_STAGE_VERTEX_BIT, vert,
               "main", nullptr};
  stages[1] = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, nullptr, 0, VK_SHADER_STAGE_FRAGMENT_BIT, frag,
               "main", nullptr};
  VkPipelineVertexInputStateCreateInfo vi{VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO};
  VkPipelineInputAssemblyStateCreateInfo ia{VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO};
  ia.topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST;
  VkPipelineViewportStateCreateInfo vp{VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO};
  vp.viewportCount = 1;
  vp.scissorCount = 1;
  VkPipelineRasterizationStateCreateInfo rs{VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO};
  rs.polygonMode = VK_POLYGON_MODE_FILL;
  rs.cullMode = VK_CULL_MODE_NONE;
  rs.frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE;
  rs.lineWidth = 1.0f;
  VkPipelineMultisampleStateCreateInfo ms{VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO};
  ms.rasterizationSamples = VK_SAMPLE_COUNT_1_BIT;
  VkPipelineColorBlendAttachmentState att{};
  att.colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT | VK_COLOR_COMPONENT_B_BIT |
                       VK_COLOR_COMPONENT_A_BIT;
  if (blend) {
    att.blendEnable = VK_TRUE;
    att.srcColorBlendFactor = VK_BLEND_FACTOR_SRC_ALPHA;
    att.dstColorBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA;
    att.colorBlendOp = VK_BLEND_OP_ADD;
    att.srcAlphaBlendFactor = VK_BLEND_FACTOR_ONE;
    att.dstAlphaBlendFactor = VK_BLEND_FACTOR_ONE_MINUS_SRC_ALPHA;
    att.alphaBlendOp = VK_BLEND_OP_ADD;
  }
  VkPipelineColorBlendStateCreateInfo cb{VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO};
  cb.attachmentCount = 1;
  cb.pAttachments = &att;
  const VkDynamicState dyn[] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
  VkPipelineDynamicStateCreateInfo ds{VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO};
  ds.dynamicStateCount = 2;
  ds.pDynamicStates = dyn;
  VkGraphicsPipelineCreateInfo pci{VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO};
  pci.stageCount = 2;
  pci.pStages = stages;
  pci.pVertexInputState = &vi;
  pci.pInputAssemblyState = &ia;
  pci.pViewportState = &vp;
  pci.pRasterizationState = &rs;
  pci.pMultisampleState = &ms;
  pci.pColorBlendState = &cb;
  pci.pDynamicState = &ds;
  pci.layout = layout_;
  pci.renderPass = pass;
  VkPipeline p;
  WL_VK_CHECK(vkCreateGraphicsPipelines(ctx_.device, VK_NULL_HANDLE, 1, &pci, nullptr, &p));
  return p;
}

}  // namespace wl::render
