// Random causal Wan DiT checkpoints (see random_checkpoint.h).
#include "tests/support/random_checkpoint.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <utility>

#include "runtime/core/safetensors.h"

namespace wl::testref {

std::vector<std::pair<std::string, Shape>> checkpoint_layout(const RandomCheckpointSpec& s) {
  const int64_t D = s.dim;
  std::vector<std::pair<std::string, Shape>> out = {
      {"patch_embedding.weight", {D, s.in_dim, 1, s.patch_h, s.patch_w}},
      {"patch_embedding.bias", {D}},
      {"time_embedding.0.weight", {D, s.freq_dim}},
      {"time_embedding.0.bias", {D}},
      {"time_embedding.2.weight", {D, D}},
      {"time_embedding.2.bias", {D}},
      {"time_projection.1.weight", {6 * D, D}},
      {"time_projection.1.bias", {6 * D}},
      {"text_embedding.0.weight", {D, s.text_dim}},
      {"text_embedding.0.bias", {D}},
      {"text_embedding.2.weight", {D, D}},
      {"text_embedding.2.bias", {D}},
  };
  if (s.action_dim > 0) {
    out.push_back({"action_embedding.0.weight", {D, s.action_dim}});
    out.push_back({"action_embedding.0.bias", {D}});
    out.push_back({"action_embedding.2.weight", {D, D}});
    out.push_back({"action_embedding.2.bias", {D}});
  }
  for (int64_t b = 0; b < s.num_layers; ++b) {
    const std::string p = "blocks." + std::to_string(b) + ".";
    out.push_back({p + "modulation", {1, 6, D}});
    for (const char* a : {"self_attn.", "cross_attn."}) {
      for (const char* l : {"q", "k", "v", "o"}) {
        out.push_back({p + a + l + ".weight", {D, D}});
        out.push_back({p + a + l + ".bias", {D}});
      }
      out.push_back({p + a + "norm_q.weight", {D}});
      out.push_back({p + a + "norm_k.weight", {D}});
    }
    out.push_back({p + "norm3.weight", {D}});
    out.push_back({p + "norm3.bias", {D}});
    out.push_back({p + "ffn.0.weight", {s.ffn_dim, D}});
    out.push_back({p + "ffn.0.bias", {s.ffn_dim}});
    out.push_back({p + "ffn.2.weight", {D, s.ffn_dim}});
    out.push_back({p + "ffn.2.bias", {D}});
  }
  out.push_back({"head.modulation", {1, 2, D}});
  out.push_back({"head.head.weight", {s.patch_h * s.patch_w * s.out_dim, D}});
  out.push_back({"head.head.bias", {s.patch_h * s.patch_w * s.out_dim}});
  return out;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Values for one tensor: weights ~ N(0, gain^2 / fan_in), biases small, norm
// weights around 1, modulation small.
std::vector<float> random_values(const std::string& name, const Shape& shape, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  const int64_t n = shape_numel(shape);
  std::vector<float> v(n);
  double mean = 0.0, stdev = 0.1;
  if (ends_with(name, "norm_q.weight") || ends_with(name, "norm_k.weight") || ends_with(name, "norm3.weight")) {
    mean = 1.0;
    stdev = 0.1;
  } else if (ends_with(name, "modulation")) {
    stdev = 0.1;
  } else if (ends_with(name, ".bias")) {
    stdev = 0.05;
  } else if (ends_with(name, ".weight")) {
    int64_t fan_in = 1;
    for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
    // The time projection feeds the modulation (scale/shift/gate): keep it small.
    const double gain = name.rfind("time_projection", 0) == 0 ? 0.3 : 1.0;
    stdev = gain / std::sqrt(static_cast<double>(fan_in));
  }
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(mean + stdev * normal(rng));
  return v;
}

}  // namespace

void write_random_checkpoint(const std::string& path, const RandomCheckpointSpec& s) {
  const auto layout = checkpoint_layout(s);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (size_t copy = 0; copy < s.prefixes.size(); ++copy) {
    std::mt19937_64 rng(s.seed * 1000003ULL + copy);
    for (const auto& [name, shape0] : layout) {
      Shape shape = shape0;
      const std::vector<float> values = random_values(name, shape, rng);
      if (name == s.omit_tensor) continue;
      if (name == s.transpose_tensor) {
        if (shape.size() != 2) throw std::runtime_error("transpose_tensor must be 2-D: " + name);
        std::swap(shape[0], shape[1]);
      }
      tensors.emplace_back(s.prefixes[copy] + name, Tensor::from_floats(values, shape).to(s.dtype));
    }
  }
  std::map<std::string, std::string> metadata;
  metadata["format"] = "wan-causal-dit";
  if (s.write_config) {
    nlohmann::json j;
    j["model_type"] = "t2v";
    j["patch_size"] = {1, s.patch_h, s.patch_w};
    j["text_len"] = s.text_len;
    j["in_dim"] = s.in_dim;
    j["dim"] = s.dim;
    j["ffn_dim"] = s.ffn_dim;
    j["freq_dim"] = s.freq_dim;
    j["text_dim"] = s.text_dim;
    j["out_dim"] = s.out_dim;
    j["num_heads"] = s.num_heads;
    j["num_layers"] = s.num_layers;
    j["local_attn_size"] = s.local_attn_size;
    j["sink_size"] = s.sink_size;
    j["qk_norm"] = true;
    j["cross_attn_norm"] = true;
    j["eps"] = s.eps;
    if (s.action_dim > 0) j["action_dim"] = s.action_dim;
    metadata["config"] = j.dump();
  }
  write_safetensors(path, tensors, metadata);
}

}  // namespace wl::testref
