// WeightMap: every weights input as one map from canonical name to tensor.
//
// open() takes a safetensors file, a torch.save .pt/.pth, a diffusers folder
// or `*.index.json` with shards (runtime/core/checkpoint_source.h), applies
// the container rule (--weights-key, else generator_ema, generator, model,
// the top level), removes wrapper prefixes, renames diffusers and HF umT5
// names to the canonical ones (runtime/core/weight_names.h) and merges LoRA
// files (runtime/core/lora.h). Tensors are read only when asked for; get()
// returns the stored dtype (F32, BF16 or F16), a zero-copy view where the
// stored bytes allow it, otherwise a contiguous copy.
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

// One --lora argument: "FILE" or "FILE:SCALE".
struct LoraInput {
  std::string path;
  double scale = 1.0;
};
// Throws wl::Error when SCALE is not a number.
LoraInput parse_lora_argument(const std::string& arg);

struct WeightOptions {
  std::string weights_key;           // container to read; "" = the rule
  std::vector<LoraInput> loras;      // merged in order
  std::optional<double> lora_alpha;  // default: alpha = r (scale 1)
};

class WeightMap {
 public:
  static WeightMap open(const std::string& path, const WeightOptions& options = {});
  // Several inputs (e.g. shards named one by one) joined; a name given twice is an error.
  static WeightMap open(const std::vector<std::string>& paths, const WeightOptions& options = {});
  explicit WeightMap(SafetensorsFile file);

  // The single safetensors file behind the map; throws for other inputs.
  const SafetensorsFile& file() const;
  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return entries_.count(name) != 0; }
  // Canonical names, sorted.
  std::vector<std::string> names() const;
  // Throws wl::Error "<file>: missing tensor '<name>'" when absent.
  Tensor get(const std::string& name) const;
  // As get(), and checks the shape: "<file>: tensor '<name>' has shape [..], expected [..]".
  Tensor get(const std::string& name, const Shape& expected) const;
  // info.name is the name in the file.
  const TensorInfo& info(const std::string& name) const;
  // Every weight is finite: throws "<file>: tensor '<name>' holds NaN (element
  // i of n)" (or +Inf/-Inf) at the first one that is not. One pass over the
  // bits, about a second per 4 GB; a model that loads with NaN weights would
  // show black or NaN frames with no error.
  void require_finite() const;

  // How the map was made, for inspect and logs.
  const std::string& format() const { return format_; }
  const std::string& container() const { return container_; }  // "" = the top level
  const std::string& name_scheme() const { return scheme_; }   // "wan", "diffusers", ...
  const std::vector<std::string>& skipped() const { return skipped_; }
  const std::vector<std::string>& merged_loras() const { return loras_; }  // one line per LoRA file

 private:
  WeightMap() = default;
  struct Entry {
    TensorInfo info;
    std::function<Tensor()> read;
  };
  void add_source(struct CheckpointSource& src);
  void merge_lora(const LoraInput& lora, const std::optional<double>& alpha);

  std::string path_, format_, container_, scheme_ = "wan";
  std::map<std::string, std::string> metadata_;
  std::map<std::string, Entry> entries_;
  std::shared_ptr<SafetensorsFile> single_;
  std::vector<std::string> skipped_, loras_;
};

}  // namespace wl
