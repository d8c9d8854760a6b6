// worldloop inspect: what a downloaded file (or a folder of them) is, read
// from names, shapes and containers only; no tensor data is loaded.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "runtime/core/checkpoint_source.h"
#include "runtime/core/error.h"
#include "runtime/core/lora.h"
#include "runtime/core/model_detect.h"
#include "runtime/core/weight_map.h"
#include "runtime/model/model_manifest.h"

namespace wl::app {
namespace {

namespace fs = std::filesystem;

const char* kUsage =
    "usage: worldloop inspect FILE|DIR... [--weights-key K] [--write-manifest DIR]\n"
    "Says what each checkpoint is without loading its tensors: format and containers, the detected model\n"
    "and its configuration, parameter count, dtypes, the memory its weights need, LoRA targets and rank.\n"
    "For a folder, which role each file fills. --write-manifest DIR writes DIR/model.json from the files\n"
    "it finds there (edit it when detection guessed wrong).\n";

std::string thousands(int64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;  // built forwards: GCC 12 warns (falsely) on repeated insert()
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') s += ',';
    s += digits[i];
  }
  return s;
}

std::string gib(double bytes) {
  char buf[32];
  if (bytes >= 1e9) std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  else std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

const char* role_of(ModelKind k) {
  switch (k) {
    case ModelKind::CausalDit: case ModelKind::Mg2Dit: return "dit";
    case ModelKind::Umt5: return "text_encoder";
    case ModelKind::WanVae: return "vae";
    case ModelKind::Taehv: return "taehv";
    case ModelKind::ClipVision: return "clip";
    case ModelKind::Lora: return "lora";
    case ModelKind::Unknown: return "unknown";
  }
  return "unknown";
}

bool has_lora_names(const CheckpointSource& src) {
  for (const SourceTensor& t : src.tensors)
    if (t.name.find(".lora_A.") != std::string::npos) return true;
  return false;
}

// Prints one file; returns its role ("" when it could not be read).
std::string inspect_file(const std::string& path, const std::string& weights_key, bool brief) {
  const std::string pad = brief ? "    " : "  ";
  // A LoRA first: as weights it would be refused.
  try {
    CheckpointSource lora_src = open_checkpoint(path, weights_key, ContainerRule::Lora);
    if (has_lora_names(lora_src)) {
      const LoraSet set = read_lora(path);
      int64_t params = 0;
      for (const LoraPair& p : set.pairs) params += shape_numel(p.a.info.shape) + shape_numel(p.b.info.shape);
      std::printf("%s%s\n", brief ? "  " : "", path.c_str());
      std::printf("%sformat: %s%s\n", pad.c_str(), set.format.c_str(),
                  set.container.empty() ? ", bare PEFT state dict" : (", container '" + set.container + "'").c_str());
      std::printf("%smodel: LoRA, %zu targets, rank %s, %s parameters (alpha is not stored: --lora-alpha, "
                  "default = rank)\n",
                  pad.c_str(), set.pairs.size(), set.rank ? std::to_string(set.rank).c_str() : "mixed",
                  thousands(params).c_str());
      if (!brief) {
        std::string targets;
        for (size_t i = 0; i < set.pairs.size() && i < 12; ++i) targets += (i ? ", " : "") + set.pairs[i].module;
        if (set.pairs.size() > 12) targets += ", ...";
        std::printf("%stargets: %s\n", pad.c_str(), targets.c_str());
        if (!set.skipped.empty()) std::printf("%sskipped: %zu entries (e.g. %s)\n", pad.c_str(), set.skipped.size(), set.skipped[0].c_str());
      }
      return "lora";
    }
  } catch (const Error&) {
    // Not readable as a LoRA: report it as weights below.
  }
  const WeightMap w = WeightMap::open(path, WeightOptions{weights_key, {}, std::nullopt});
  const DetectedModel d = detect_model(w);
  std::printf("%s%s\n", brief ? "  " : "", path.c_str());
  std::printf("%sformat: %s%s, %s names\n", pad.c_str(), w.format().c_str(),
              w.container().empty() ? "" : (", container '" + w.container() + "'").c_str(), w.name_scheme().c_str());
  std::printf("%smodel: %s\n", pad.c_str(), model_kind_label(d.kind));
  if (!brief) {
    CheckpointSource src = open_checkpoint(path, weights_key);
    if (!src.containers.empty()) {
      std::string list;
      for (const std::string& c : src.containers) list += (list.empty() ? "" : ", ") + c;
      std::printf("%stop level: %s\n", pad.c_str(), list.c_str());
    }
    for (const auto& [k, v] : d.config) std::printf("%s  %s: %s\n", pad.c_str(), k.c_str(), v.c_str());
  }
  std::string dtypes;
  for (const auto& [t, n] : d.parameters_by_dtype) dtypes += (dtypes.empty() ? "" : ", ") + t + " " + thousands(n);
  std::printf("%sparameters: %s in %zu tensors (%s)\n", pad.c_str(), thousands(d.parameters).c_str(), w.names().size(),
              dtypes.c_str());
  const double p = static_cast<double>(d.parameters);
  std::printf("%sweights memory: CPU f32 %s, bf16 %s; GPU f32 %s, bf16 %s (activations and the KV cache come on "
              "top: the memory planner counts them)\n",
              pad.c_str(), gib(4 * p).c_str(), gib(2 * p).c_str(), gib(4 * p).c_str(), gib(2 * p).c_str());
  if (!brief && !w.skipped().empty()) {
    std::printf("%sskipped (never read): %zu entries\n", pad.c_str(), w.skipped().size());
    for (size_t i = 0; i < w.skipped().size() && i < 6; ++i) std::printf("%s  %s\n", pad.c_str(), w.skipped()[i].c_str());
  }
  return role_of(d.kind);
}

bool is_weights_file(const std::string& name) {
  auto ends = [&](const char* s) {
    const std::string e = s;
    return name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0;
  };
  return ends(".pt") || ends(".pth") || ends(".safetensors") || ends(".index.json");
}

int inspect_dir(const std::string& dir, const std::string& weights_key) {
  std::printf("%s (folder)\n", dir.c_str());
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it.depth() > 3) it.disable_recursion_pending();
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  // Shards listed by an index are shown through the index.
  std::vector<fs::path> indexed_dirs;
  for (const fs::path& f : files)
    if (f.filename().string().find(".safetensors.index.json") != std::string::npos) indexed_dirs.push_back(f.parent_path());
  int failures = 0;
  for (const fs::path& f : files) {
    const std::string name = f.filename().string();
    if (name == "spiece.model" || name.find(".spm.model") != std::string::npos) {
      std::printf("  %s\n    role: tokenizer\n", f.string().c_str());
      continue;
    }
    if (!is_weights_file(name)) continue;
    const bool shard = name.find(".index.json") == std::string::npos &&
                       std::find(indexed_dirs.begin(), indexed_dirs.end(), f.parent_path()) != indexed_dirs.end();
    if (shard) continue;
    try {
      const std::string role = inspect_file(f.string(), weights_key, true);
      std::printf("    role: %s\n", role.c_str());
    } catch (const Error& e) {
      std::printf("  %s\n    error: %s\n", f.string().c_str(), e.what());
      ++failures;
    }
  }
  try {
    const ModelManifest m = ModelManifest::detect(dir);
    std::printf("  play --model would use (by file names):");
    for (const auto& [role, file] : m.files) std::printf(" %s=%s", role.c_str(), file.c_str());
    std::printf(", family %s\n", m.family.c_str());
    for (const std::string& n : m.notes) std::printf("    note: %s\n", n.c_str());
  } catch (const Error& e) {
    std::printf("  play --model: %s\n", e.what());
  }
  return failures;
}

}  // namespace

int cmd_inspect(int argc, char** argv) {
  Args args(argc, argv, {"weights-key", "write-manifest"}, {"help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::string key = args.get("weights-key", "");
  if (args.has("write-manifest")) {
    const std::string dir = args.require("write-manifest");
    const ModelManifest m = ModelManifest::detect(dir);
    const std::string out = (fs::path(dir) / "model.json").string();
    m.write(out);
    std::printf("wrote %s\n", out.c_str());
    if (args.positional().empty()) return 0;
  }
  if (args.positional().empty()) throw Error("inspect needs a file or a folder (see --help)");
  int failures = 0;
  for (const std::string& path : args.positional()) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      failures += inspect_dir(path, key);
      continue;
    }
    try {
      inspect_file(path, key, false);
    } catch (const Error& e) {
      std::fprintf(stderr, "worldloop inspect: %s\n", e.what());
      ++failures;
    }
  }
  return failures ? 1 : 0;
}

}  // namespace wl::app
