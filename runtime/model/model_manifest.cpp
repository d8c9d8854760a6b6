#include "runtime/model/model_manifest.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/core/input_file.h"
#include "runtime/core/json_fields.h"
#include "runtime/core/output_file.h"
#include "runtime/model/world_description.h"

namespace wl {
namespace fs = std::filesystem;
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_weights(const std::string& name) {
  return ends_with(name, ".pt") || ends_with(name, ".pth") || ends_with(name, ".safetensors") ||
         ends_with(name, ".safetensors.index.json");
}

// The role a file plays by its name, "" when it plays none we know.
std::string role_by_name(const fs::path& relative) {
  const std::string name = lower(relative.filename().string());
  if (name == "spiece.model" || ends_with(name, ".spm.model") || name == "tokenizer.model") return "tokenizer";
  if (!is_weights(name)) return "";
  // A shard of a sharded file is reached through its index.
  if (name.find("-of-") != std::string::npos && ends_with(name, ".safetensors")) return "";
  if (name.find("lora") != std::string::npos) return "lora";
  if (name.find("t5") != std::string::npos) return "text_encoder";
  if (name.find("clip") != std::string::npos) return "clip";  // the image encoder of image-to-video models
  if (name.rfind("taew", 0) == 0 || name.find("taehv") != std::string::npos) return "taehv";
  if (name.find("vae") != std::string::npos) return "vae";
  return "dit";
}

std::string family_by_name(const std::string& dit_file, std::vector<std::string>& notes) {
  const std::string n = lower(dit_file);  // the folders too: Causal Forcing ships chunkwise/ and framewise/
  if (n.find("rolling") != std::string::npos) return "rolling_forcing";
  if (n.find("longlive") != std::string::npos) return "longlive";
  if (n.find("causal") != std::string::npos || n.find("ar_diffusion") != std::string::npos)
    return n.find("frame") != std::string::npos ? "causal_forcing_frame" : "causal_forcing";
  if (n.find("self_forcing") == std::string::npos)
    notes.push_back("the family was not in the DiT's path '" + dit_file +
                    "': playing it as self_forcing (set \"family\" in model.json)");
  return "self_forcing";
}

}  // namespace

ModelManifest ModelManifest::detect(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir + ": not a directory (--model takes a model directory)");
  ModelManifest m;
  m.dir = dir;
  std::map<std::string, std::vector<std::string>> found;  // role -> files, relative to dir
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it.depth() > 3) {
      it.disable_recursion_pending();
      continue;
    }
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    const fs::path rel = fs::relative(it->path(), dir, ec);
    const std::string role = role_by_name(rel);
    if (!role.empty()) found[role].push_back(rel.generic_string());
  }
  for (auto& [role, files] : found) std::sort(files.begin(), files.end());

  auto& dits = found["dit"];
  if (dits.size() > 1) {
    // Wan's base folder holds the non-causal DiT next to a downloaded distilled
    // one: the distilled checkpoint (a torch.save file) is the one to play.
    std::vector<std::string> distilled;
    for (const std::string& f : dits)
      if (ends_with(lower(f), ".pt") || ends_with(lower(f), ".pth")) distilled.push_back(f);
    if (distilled.size() == 1) {
      m.notes.push_back("several DiT files; playing the distilled checkpoint " + distilled[0]);
      dits = distilled;
    }
  }
  if (dits.empty()) throw Error(dir + ": no DiT checkpoint found (a .pt, .pth or .safetensors file)");
  if (dits.size() > 1) {
    std::string list;
    for (const std::string& f : dits) list += (list.empty() ? "" : ", ") + f;
    throw Error(dir + ": several files could be the DiT (" + list +
                "): say which in model.json (worldloop inspect --write-manifest writes one to edit)");
  }
  m.files["dit"] = dits[0];
  for (const char* role : {"text_encoder", "tokenizer", "vae", "taehv", "clip"}) {
    const auto& files = found[role];
    if (files.empty()) continue;
    if (files.size() > 1) m.notes.push_back(std::string("several ") + role + " files; using " + files[0]);
    m.files[role] = files[0];
  }
  for (const std::string& f : found["lora"]) m.loras.push_back(LoraFile{f, 1.0f, std::nullopt});
  m.family = family_by_name(dits[0], m.notes);
  if (!m.files.count("text_encoder")) m.notes.push_back("no umT5 text encoder found (a file with 't5' in its name)");
  if (!m.files.count("tokenizer")) m.notes.push_back("no tokenizer found (spiece.model)");
  return m;
}

ModelManifest ModelManifest::read(const std::string& dir, bool allow_external_paths) {
  const std::string path = (fs::path(dir) / "model.json").string();
  // A regular file of bounded size (a FIFO would block, /dev/zero read forever).
  return parse(read_small_file(path, "the model manifest", InputLimits::kJsonBytes), dir, path,
               allow_external_paths);
}

ModelManifest ModelManifest::parse(const std::string& text, const std::string& dir, const std::string& path,
                                   bool allow_external_paths) {
  const nlohmann::json j = parse_json_strict(text, path);  // duplicate keys refused
  if (!j.is_object()) throw Error(path + ": the model manifest must be a JSON object");
  // Every number typed and in range before it is converted (JsonFields).
  const JsonFields f(j, path);
  ModelManifest m;
  m.dir = dir;
  try {
    m.family = f.string("family", std::string("self_forcing"));
    m.files = j.at("files").get<std::map<std::string, std::string>>();
    m.weights_key = f.string("weights_key", std::string());
    m.decoder = f.string("decoder", std::string());
    m.decoder_stream = f.string("decoder_stream", std::string());
    if (const nlohmann::json* lora = f.find("lora")) {
      if (!lora->is_array() || lora->size() > 64) throw Error(path + ": lora must be a list of at most 64 entries");
      for (size_t i = 0; i < lora->size(); ++i) {
        const std::string at = "lora." + std::to_string(i);
        LoraFile l{f.string(at + ".file", std::nullopt),
                   static_cast<float>(f.number(at + ".scale", -1000.0, 1000.0, false, 1.0)), std::nullopt};
        if (f.find(at + ".alpha")) l.alpha = static_cast<float>(f.number(at + ".alpha", 0.0, 1e6, true, std::nullopt));
        m.loras.push_back(l);
      }
    }
    m.width = static_cast<int>(f.integer("video.width", 16, 8192, m.width));
    m.height = static_cast<int>(f.integer("video.height", 16, 8192, m.height));
    m.fps = f.number("video.fps", 0.0, 1000.0, /*lo_open=*/true, m.fps);
    if (f.find("sampler.steps")) m.steps = f.integer_list("sampler.steps", 0, 1000, 1, 64, std::nullopt);
    if (f.find("sampler.shift")) m.shift = f.number("sampler.shift", 0.0, 1000.0, /*lo_open=*/true, std::nullopt);
    if (f.find("sampler.chunk")) m.chunk = f.integer("sampler.chunk", 1, 64, std::nullopt);
    if (f.find("sampler.mode")) {
      const std::string mode = f.string("sampler.mode", std::nullopt);
      if (mode != "chunk" && mode != "rolling")
        throw Error(path + ": sampler.mode must be \"chunk\" or \"rolling\", got \"" + mode + "\"");
      m.mode = mode == "rolling" ? SamplerMode::Rolling : SamplerMode::Chunk;
    }
    if (f.find("cache.budget_frames"))
      m.budget_frames = f.integer("cache.budget_frames", 1, kMaxBudgetFrames, std::nullopt);
    if (f.find("cache.sink_frames"))
      m.sink_frames = f.integer("cache.sink_frames", 0, kMaxBudgetFrames, std::nullopt);
    if (f.find("cache.policy")) m.policy = f.string("cache.policy", std::nullopt);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
  if (!m.files.count("dit")) throw Error(path + ": files.dit is missing");
  try {
    model_family(m.family);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  if (m.width <= 0 || m.height <= 0 || m.width % 16 || m.height % 16)
    throw Error(path + ": video " + std::to_string(m.width) + "x" + std::to_string(m.height) +
                " must be positive multiples of 16 (8x the latents, 2x2 patches)");
  // Every file it names lies inside the model directory (symlinks followed).
  for (const auto& [role, file] : m.files)
    resolve_package_file(dir, file, path, "files." + role, allow_external_paths);
  for (size_t i = 0; i < m.loras.size(); ++i)
    resolve_package_file(dir, m.loras[i].file, path, "lora." + std::to_string(i) + ".file", allow_external_paths);
  return m;
}

ModelManifest ModelManifest::open(const std::string& dir, bool allow_external_paths) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / "model.json", ec) ? read(dir, allow_external_paths) : detect(dir);
}

void ModelManifest::write(const std::string& path) const {
  nlohmann::ordered_json j;
  j["family"] = family;
  j["files"] = files;
  if (!weights_key.empty()) j["weights_key"] = weights_key;
  if (!decoder.empty()) j["decoder"] = decoder;
  if (!decoder_stream.empty()) j["decoder_stream"] = decoder_stream;
  if (!loras.empty()) {
    j["lora"] = nlohmann::ordered_json::array();
    for (const LoraFile& l : loras) {
      nlohmann::ordered_json e = {{"file", l.file}, {"scale", l.scale}};
      if (l.alpha) e["alpha"] = *l.alpha;
      j["lora"].push_back(e);
    }
  }
  j["video"] = {{"width", width}, {"height", height}, {"fps", fps}};
  const ModelFamily f = sampling();
  j["sampler"] = {{"steps", f.steps}, {"shift", f.shift}, {"chunk", f.chunk},
                  {"mode", f.mode == SamplerMode::Rolling ? "rolling" : "chunk"}};
  j["cache"] = {{"budget_frames", f.budget_frames}, {"sink_frames", f.sink_frames}, {"policy", f.policy}};
  write_file_replacing(path, j.dump(2) + "\n");
}

ModelFamily ModelManifest::sampling() const {
  ModelFamily f = model_family(family);
  if (steps) f.steps = *steps;
  if (shift) f.shift = *shift;
  if (chunk) f.chunk = *chunk;
  if (budget_frames) f.budget_frames = *budget_frames;
  if (sink_frames) f.sink_frames = *sink_frames;
  if (policy) f.policy = *policy;
  if (mode) f.mode = *mode;
  if (!weights_key.empty()) f.weights_key = weights_key;
  return f;
}

std::string ModelManifest::path(const std::string& role) const {
  const auto it = files.find(role);
  if (it == files.end()) return "";
  const fs::path p(it->second);
  return p.is_absolute() ? p.string() : (fs::path(dir) / p).string();
}

}  // namespace wl
