// Any checkpoint input as one flat list of tensors, before names are made
// canonical: a safetensors file, a torch.save .pt/.pth, a diffusers folder or
// its `*.index.json` with shards. The container rule picks which copy of the
// weights a file holds; tensors outside it (critic, optimiser state, step
// counters) are listed as skipped and never read.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"

namespace wl {

struct SourceTensor {
  std::string name;                // as found under the chosen container
  TensorInfo info;                 // dtype, shape (offsets only for safetensors)
  std::function<Tensor()> read;    // contiguous tensor, the stored dtype; a view when possible
};

struct CheckpointSource {
  std::string path;
  std::string format;              // "safetensors", "torch.save zip (prefix 'x/')", "diffusers index (2 shards)"
  std::string container;           // chosen top-level key; "" = the top level
  std::vector<std::string> containers;  // top-level entries of a .pt: "generator_ema (dict, 69 tensors)", ...
  std::map<std::string, std::string> metadata;
  std::vector<SourceTensor> tensors;
  std::vector<std::string> skipped;  // what was left out, and what it is
  std::optional<SafetensorsFile> single_file;  // the one safetensors file, when that is the input
};

enum class ContainerRule {
  Weights,  // weights_key, else generator_ema, generator, model, else the top level
  Lora,     // weights_key, else generator_lora, else the top level
};

// Opens `path` (file, folder or index). Throws wl::Error naming the file and,
// when it is not a weights container, what it is.
CheckpointSource open_checkpoint(const std::string& path, const std::string& weights_key = "",
                                 ContainerRule rule = ContainerRule::Weights);

// The same for a safetensors file already open.
CheckpointSource checkpoint_from_safetensors(SafetensorsFile file, const std::string& weights_key = "",
                                             ContainerRule rule = ContainerRule::Weights);

}  // namespace wl
