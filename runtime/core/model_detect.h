// What a weights map is: the model family and its configuration, read from
// the names and shapes alone (no tensor data). Used by `worldloop inspect`
// and by loaders that want to say "this is a VAE, not a DiT".
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/weight_map.h"

namespace wl {

enum class ModelKind { CausalDit, Mg2Dit, Umt5, WanVae, Taehv, ClipVision, Lora, Unknown };
const char* model_kind_label(ModelKind k);  // "causal Wan DiT", "Wan 2.1 VAE", ...

struct DetectedModel {
  ModelKind kind = ModelKind::Unknown;
  std::string summary;  // one line: "causal Wan DiT, dim 1536, 30 layers, 12 heads"
  std::vector<std::pair<std::string, std::string>> config;  // in display order
  int64_t parameters = 0;
  std::map<std::string, int64_t> parameters_by_dtype;  // "F32" -> count
};

DetectedModel detect_model(const WeightMap& weights);

// Throws wl::Error "<file>: this is a <what>, not a <expected>" when the map is not `expected`.
void expect_model(const WeightMap& weights, ModelKind expected);

}  // namespace wl
