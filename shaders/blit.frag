#version 450
// The world frame (RGB8 uploaded as RGBA8 UNORM), drawn as stored: the
// swapchain is UNORM too, so the frame's sRGB-encoded values reach the screen
// unchanged. Nearest or linear filtering is chosen by the bound sampler.
layout(set = 0, binding = 0) uniform sampler2D frame_tex;
layout(location = 0) in vec2 uv;
layout(location = 0) out vec4 color;

void main() {
  color = vec4(texture(frame_tex, uv).rgb, 1.0);
}
