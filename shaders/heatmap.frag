#version 450
// Token-score heatmap over the frame: one texel per token (R32F, scores
// normalised to 0..1 on upload), nearest-sampled so token cells stay sharp,
// coloured with a compact approximation of the Turbo colormap and blended
// over the frame. Cell borders are darkened slightly so the grid reads.
layout(set = 0, binding = 0) uniform sampler2D score_tex;
layout(push_constant) uniform Params {
  float opacity;
  float grid_lines;  // 0 or 1
} params;
layout(location = 0) in vec2 uv;
layout(location = 0) out vec4 color;

vec3 turbo(float x) {
  x = clamp(x, 0.0, 1.0);
  const vec4 kr = vec4(0.13572138, 4.61539260, -42.66032258, 132.13108234);
  const vec4 kg = vec4(0.09140261, 2.19418839, 4.84296658, -14.18503333);
  const vec4 kb = vec4(0.10667330, 12.64194608, -60.58204836, 110.36276771);
  const vec2 kr2 = vec2(-152.94239396, 59.28637943);
  const vec2 kg2 = vec2(4.27729857, 2.82956604);
  const vec2 kb2 = vec2(-89.90310912, 27.34824973);
  vec4 v4 = vec4(1.0, x, x * x, x * x * x);
  vec2 v2 = v4.zw * v4.z;
  return vec3(dot(v4, kr) + dot(v2, kr2), dot(v4, kg) + dot(v2, kg2), dot(v4, kb) + dot(v2, kb2));
}

void main() {
  float s = texture(score_tex, uv).r;
  vec2 cells = vec2(textureSize(score_tex, 0));
  vec2 f = fract(uv * cells);
  vec2 edge = fwidth(uv * cells) * 1.5;
  float border = params.grid_lines * (1.0 - step(edge.x, f.x) * step(edge.y, f.y));
  vec3 c = mix(turbo(s), vec3(0.0), 0.5 * border);
  color = vec4(c, params.opacity);
}
