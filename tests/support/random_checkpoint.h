// Random causal Wan DiT checkpoints for tests: the exact checkpoint names of
// docs/model.md §1, any configuration, stored as F32, BF16 or F16, optionally
// wrapped in prefixes like the distilled checkpoints ("model.",
// "generator_ema.model.", ...), with or without the `__metadata__.config`
// JSON. Weights are scaled so activations stay O(1) through the blocks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl::testref {

struct RandomCheckpointSpec {
  int64_t dim = 64;
  int64_t num_heads = 4;
  int64_t num_layers = 2;
  int64_t ffn_dim = 128;
  int64_t freq_dim = 32;
  int64_t text_dim = 32;
  int64_t text_len = 16;
  int64_t in_dim = 4;
  int64_t out_dim = 4;
  int64_t patch_h = 2;
  int64_t patch_w = 2;
  double eps = 1e-6;
  int64_t local_attn_size = -1;
  int64_t sink_size = 0;
  int64_t action_dim = 0;  // > 0: the embedded worlds' action embedding
  DType dtype = DType::F32;
  bool write_config = true;  // false: no metadata; heads must then be dim / 128
  // One full copy of the weights per prefix, each with its own random values
  // (so a loader picking the wrong copy is caught). {""}: plain names.
  std::vector<std::string> prefixes = {""};
  uint64_t seed = 1;
  // Faults for loader tests (stripped names, applied to every copy):
  std::string transpose_tensor;  // a 2-D tensor written with its shape swapped
  std::string omit_tensor;       // a tensor left out
};

// Writes the checkpoint to `path` with wl::write_safetensors.
void write_random_checkpoint(const std::string& path, const RandomCheckpointSpec& spec);

// The stripped checkpoint names and shapes of a configuration, in a fixed order.
std::vector<std::pair<std::string, Shape>> checkpoint_layout(const RandomCheckpointSpec& spec);

}  // namespace wl::testref
