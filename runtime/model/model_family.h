// The published causal Wan families and how each one samples by default: the
// row a published model directory plays with unless its model.json says
// otherwise. Where a value is inferred rather than read in the family's own
// code or config, the README's "Playing a published model" table says so.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model/sampler.h"

namespace wl {

struct ModelFamily {
  std::string name;   // the key in model.json: "self_forcing", "causal_forcing", ...
  std::string label;  // for people: "Self Forcing"
  std::vector<int> steps;
  double shift = 5.0;
  int64_t chunk = 3;          // latent frames per chunk (1: frame-wise)
  SamplerMode mode = SamplerMode::Chunk;
  int64_t budget_frames = 21;  // latent frames the KV cache holds
  int64_t sink_frames = 0;     // of which stay forever
  std::string policy = "window";
  std::string weights_key;     // the container to read ("" : the loader's rule)
  int64_t attention_frames = 0;  // rolling: how far back attention reaches (0: the budget)
};

// Every family, in a fixed order (the first is the default).
const std::vector<ModelFamily>& model_families();
// The row called `name`; throws wl::Error listing the known names.
const ModelFamily& model_family(const std::string& name);

}  // namespace wl
