// LoRA files (LongLive's `generator_lora` dict, bare PEFT state dicts) and
// the merge W <- W + (alpha / r) * scale * B A, done in float64 on float32
// weights before any 16-bit conversion.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/checkpoint_source.h"

namespace wl {

struct LoraPair {
  std::string module;  // canonical module name, "blocks.3.self_attn.q"
  int64_t rank = 0;
  SourceTensor a;      // lora_A.weight [r, in]
  SourceTensor b;      // lora_B.weight [out, r]
};

struct LoraSet {
  std::string path, format, container;
  std::vector<LoraPair> pairs;  // sorted by module
  std::vector<std::string> skipped;
  int64_t rank = 0;             // the common rank (0 when ranks differ)
};

// Lists the pairs of a LoRA file without reading them. Refuses keys that
// target modules outside the spec's list and pairs with mismatched shapes.
LoraSet read_lora(const std::string& path);

// True for blocks.N.{self_attn,cross_attn}.{q,k,v,o} and blocks.N.ffn.{0,2}.
bool is_lora_target(const std::string& module);

// weight [out, in] F32 += factor * b [out, r] * a [r, in] (any float dtypes; float64 sums).
void add_lora_product(Tensor& weight, const Tensor& a, const Tensor& b, double factor);

}  // namespace wl
