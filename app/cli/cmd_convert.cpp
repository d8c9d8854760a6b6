// worldloop convert: loads what play would load from any checkpoint input
// and writes it as one f32 safetensors file under the canonical names.
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/weight_flags.h"
#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/core/weight_map.h"

namespace wl::app {
namespace {

const char* kUsage =
    "usage: worldloop convert IN [IN2...] [--weights-key K] [--lora FILE[:SCALE]]... [--lora-alpha A]\n"
    "                         --out OUT.safetensors\n"
    "IN is a .pt/.pth (torch.save), a safetensors file, a diffusers folder or its *.index.json. The weights\n"
    "are picked as play picks them (--weights-key, else generator_ema, generator, model, the top level),\n"
    "renamed to the original Wan / t5.py names, LoRAs merged (W += alpha/r * SCALE * B A; alpha defaults\n"
    "to the rank), and written in float32 without any prefix. Several INs are joined (a name twice is an\n"
    "error). Nothing in a checkpoint is ever executed.\n";

}  // namespace

int cmd_convert(int argc, char** argv) {
  WeightOptions options;
  std::vector<char*> rest = take_lora_flags(argc, argv, options);
  Args args(static_cast<int>(rest.size()), rest.data(), {"weights-key", "lora-alpha", "out"}, {"help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::vector<std::string>& inputs = args.positional();
  if (inputs.empty()) throw Error("convert needs at least one input file (see --help)");
  const std::string out = args.require("out");
  options.weights_key = args.get("weights-key", "");
  if (args.has("lora-alpha")) options.lora_alpha = parse_lora_alpha(args.require("lora-alpha"));

  const WeightMap weights = WeightMap::open(inputs, options);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& name : weights.names()) {
    Tensor t = weights.get(name);
    if (t.numel() == 0) t = Tensor::zeros(t.shape(), DType::F32);
    else if (t.dtype() != DType::F32) t = t.to(DType::F32);
    tensors.emplace_back(name, std::move(t));
  }
  std::map<std::string, std::string> metadata;
  if (auto it = weights.metadata().find("config"); it != weights.metadata().end()) metadata["config"] = it->second;
  std::string sources;
  for (const std::string& in : inputs) sources += (sources.empty() ? "" : " + ") + in;
  metadata["converted_from"] = sources;
  metadata["format"] = weights.format();
  if (!weights.container().empty()) metadata["container"] = weights.container();
  metadata["names"] = weights.name_scheme();
  for (size_t i = 0; i < weights.merged_loras().size(); ++i) metadata["lora." + std::to_string(i)] = weights.merged_loras()[i];
  write_safetensors(out, tensors, metadata);
  std::printf("%s: %zu tensors (f32) from %s%s%s\n", out.c_str(), tensors.size(), weights.format().c_str(),
              weights.container().empty() ? "" : (", container '" + weights.container() + "'").c_str(),
              weights.merged_loras().empty() ? "" : (", " + std::to_string(weights.merged_loras().size()) + " LoRA merged").c_str());
  return 0;
}

}  // namespace wl::app
