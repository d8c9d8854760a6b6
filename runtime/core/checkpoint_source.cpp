// open_checkpoint: format sniffing, the container rule, and tensor readers
// for safetensors, torch.save archives and diffusers shards.
#include "runtime/core/checkpoint_source.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/core/error.h"
#include "runtime/core/input_file.h"
#include "runtime/core/pt_file.h"
#include "runtime/core/zip_archive.h"

namespace wl {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Kind = PickleValue::Kind;

[[noreturn]] void fail(const std::string& label, const std::string& problem) { throw Error(label + ": " + problem); }

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string join_list(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", '" : "'") + v[i] + "'";
  return out.empty() ? "nothing" : out;
}

// ---- safetensors -----------------------------------------------------------

void add_safetensors_tensor(CheckpointSource& src, const std::shared_ptr<SafetensorsFile>& file,
                            const std::string& file_name, const std::string& name) {
  SourceTensor t;
  t.name = name;
  t.info = file->info(file_name);
  t.read = [file, file_name] { return file->get(file_name); };
  src.tensors.push_back(std::move(t));
}

// The container rule on flat names: "<copy>." prefixes, possibly under "model.".
void pick_flat(CheckpointSource& src, const std::shared_ptr<SafetensorsFile>& file, const std::string& key,
               ContainerRule rule) {
  const std::vector<std::string> all = file->names();
  std::vector<std::string> order;
  if (!key.empty()) order = {key};
  else if (rule == ContainerRule::Lora) order = {"generator_lora"};
  else order = {"generator_ema", "generator"};
  for (const std::string& copy : order) {
    bool any = false;
    for (const std::string& n : all) {
      for (const std::string& p : {copy + ".", "model." + copy + "."}) {
        if (!starts_with(n, p)) continue;
        add_safetensors_tensor(src, file, n, n.substr(p.size()));
        any = true;
        break;
      }
    }
    if (any) {
      src.container = copy;
      for (const std::string& n : all)
        if (!starts_with(n, copy + ".") && !starts_with(n, "model." + copy + "."))
          src.skipped.push_back(n + " (tensor outside '" + copy + "')");
      return;
    }
  }
  if (!key.empty()) fail(src.path, "no tensor names start with '" + key + ".' (asked for by --weights-key)");
  for (const std::string& n : all) add_safetensors_tensor(src, file, n, n);
}

void use_safetensors(CheckpointSource& src, std::shared_ptr<SafetensorsFile> file, const std::string& key,
                     ContainerRule rule) {
  src.format = "safetensors";
  src.metadata = file->metadata();
  src.single_file = *file;
  pick_flat(src, file, key, rule);
}

void open_safetensors(CheckpointSource& src, const std::string& key, ContainerRule rule) {
  use_safetensors(src, std::make_shared<SafetensorsFile>(SafetensorsFile::open(src.path)), key, rule);
}

// ---- torch.save ------------------------------------------------------------

bool float_type(StorageType t, DType& out) {
  switch (t) {
    case StorageType::F32: out = DType::F32; return true;
    case StorageType::BF16: out = DType::BF16; return true;
    case StorageType::F16: out = DType::F16; return true;
    default: return false;
  }
}

// Copies a strided view into a new contiguous tensor.
Tensor materialise(const PickledTensor& t, DType dtype) {
  Tensor out = Tensor::empty(t.shape, dtype);
  const size_t esz = dtype_size(dtype);
  auto* dst = static_cast<uint8_t*>(out.raw());
  const int64_t n = t.numel();
  const size_t rank = t.shape.size();
  std::vector<int64_t> index(rank, 0);
  int64_t at = t.offset;
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(dst + static_cast<size_t>(i) * esz, t.storage + static_cast<size_t>(at) * esz, esz);
    for (size_t k = rank; k-- > 0;) {  // odometer over the indices, last fastest
      if (++index[k] < t.shape[k]) {
        at += t.strides[k];
        break;
      }
      at -= (t.shape[k] - 1) * t.strides[k];
      index[k] = 0;
    }
  }
  return out;
}

std::string describe(const PickleValue& v) {
  switch (v.kind) {
    case Kind::Dict: return "dict of " + std::to_string(v.entries.size());
    case Kind::Tensor: return "tensor";
    case Kind::Int: return "int " + std::to_string(v.integer);
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    default: return "other";
  }
}

struct Flattener {
  CheckpointSource& src;
  std::shared_ptr<PtFile> pt;
  uint64_t visits = 0;

  void walk(const PickleValue& dict, const std::string& prefix, int depth) {
    if (depth > 16) fail(src.path, "state dict nested deeper than 16 levels at '" + prefix + "'");
    for (const auto& [k, v] : dict.entries) {
      if (++visits > 20'000'000) fail(src.path, "more than 20,000,000 entries (a pickle bomb?)");
      if (k->kind != Kind::String) {
        src.skipped.push_back(prefix + "<non-string key> (" + describe(*v) + ")");
        continue;
      }
      const std::string name = prefix + k->text;
      if (v->kind == Kind::Dict) {
        walk(*v, name + ".", depth + 1);
      } else if (v->kind == Kind::Tensor) {
        DType dtype;
        if (!float_type(v->tensor.dtype, dtype)) {
          src.skipped.push_back(name + " (" + storage_type_name(v->tensor.dtype) + " tensor)");
          continue;
        }
        SourceTensor t;
        t.name = name;
        t.info.name = name;
        t.info.dtype = dtype;
        t.info.shape = v->tensor.shape;
        const PickledTensor pickled = v->tensor;
        auto keep = pt;
        t.read = [pickled, dtype, keep]() -> Tensor {
          const uint8_t* first = pickled.storage + static_cast<size_t>(pickled.offset) * dtype_size(dtype);
          if (pickled.contiguous() && reinterpret_cast<uintptr_t>(first) % dtype_size(dtype) == 0)
            return Tensor::view(const_cast<uint8_t*>(first), pickled.shape, dtype, keep->mapping());
          return materialise(pickled, dtype);
        };
        src.tensors.push_back(std::move(t));
      } else {
        src.skipped.push_back(name + " (" + describe(*v) + ")");
      }
    }
  }
};

void open_pt(CheckpointSource& src, const std::string& key, ContainerRule rule) {
  auto pt = std::make_shared<PtFile>(PtFile::open(src.path));
  src.format = "torch.save zip (prefix '" + pt->prefix() + "')";
  const PickleValue& root = pt->root();
  if (root.kind != Kind::Dict) fail(src.path, "the pickle holds a " + describe(root) + ", not a state dict");
  bool top_has_tensors = false;
  std::vector<std::string> dict_keys;
  for (const auto& [k, v] : root.entries) {
    if (k->kind != Kind::String) continue;
    if (v->kind == Kind::Tensor) top_has_tensors = true;
    if (v->kind == Kind::Dict) {
      dict_keys.push_back(k->text);
      src.containers.push_back(k->text + " (" + describe(*v) + ")");
    } else if (v->kind != Kind::Tensor) {
      src.containers.push_back(k->text + " (" + describe(*v) + ")");
    }
  }
  std::vector<std::string> order;
  if (!key.empty()) order = {key};
  else if (rule == ContainerRule::Lora) order = {"generator_lora"};
  else order = {"generator_ema", "generator", "model"};
  const PickleValue* chosen = nullptr;
  for (const std::string& c : order) {
    const PickleValue* v = root.find(c);
    if (v && v->kind == Kind::Dict) {
      chosen = v;
      src.container = c;
      break;
    }
  }
  if (!key.empty() && !chosen)
    fail(src.path, "has no dict '" + key + "' (asked for by --weights-key); its top level holds " + join_list(dict_keys));
  if (!chosen) {
    if (rule == ContainerRule::Weights && root.find("generator_lora"))
      fail(src.path, "a LoRA file (generator_lora): pass it with --lora, next to its base model");
    if (!top_has_tensors && !dict_keys.empty())
      fail(src.path, "a training state holding " + join_list(dict_keys) +
                         " and no generator_ema, generator or model: pass --weights-key " + dict_keys.front());
    chosen = &root;
  }
  Flattener f{src, pt};
  f.walk(*chosen, "", 0);
  for (const auto& [k, v] : root.entries)
    if (chosen != &root && k->kind == Kind::String && v.get() != chosen)
      src.skipped.push_back(k->text + " (" + describe(*v) + ", outside '" + src.container + "')");
}

// ---- diffusers -------------------------------------------------------------

void open_index(CheckpointSource& src, const std::string& key, ContainerRule rule) {
  std::ifstream in(src.path);
  if (!in) fail(src.path, "cannot open");
  json index;
  try {
    index = json::parse(in);
  } catch (const json::exception& e) {
    fail(src.path, std::string("not valid JSON: ") + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    fail(src.path, "an index JSON needs an object 'weight_map' (tensor name -> shard file)");
  const fs::path dir = fs::path(src.path).parent_path();
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) fail(src.path, "weight_map entry '" + name + "' is not a file name");
    const std::string s = shard.get<std::string>();
    if (s.empty() || s.find('/') != std::string::npos || s.find("..") != std::string::npos)
      fail(src.path, "shard name '" + s + "' must be a plain file name next to the index");
    auto& file = shards[s];
    if (!file) file = std::make_shared<SafetensorsFile>(SafetensorsFile::open((dir / s).string()));
    if (!file->has(name)) fail(file->path(), "the index lists tensor '" + name + "' in this shard, which lacks it");
    add_safetensors_tensor(src, file, name, name);
  }
  src.format = "sharded safetensors (" + std::to_string(shards.size()) + " shards, " + fs::path(src.path).filename().string() + ")";
  if (!shards.empty()) src.metadata = shards.begin()->second->metadata();
  if (std::ifstream cfg(dir / "config.json"); cfg) {
    std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
    src.metadata["diffusers_config"] = text;
  }
  (void)key;
  (void)rule;
}

void open_path(CheckpointSource& src, const std::string& key, ContainerRule rule);

void open_folder(CheckpointSource& src, const std::string& key, ContainerRule rule) {
  std::vector<std::string> indexes, singles, pts;
  bool has_transformer = false;
  for (const auto& e : fs::directory_iterator(src.path)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && (n == "transformer" || n == "text_encoder" || n == "vae")) has_transformer = true;
    if (!e.is_regular_file()) continue;
    if (ends_with(n, ".safetensors.index.json")) indexes.push_back(e.path().string());
    else if (ends_with(n, ".safetensors")) singles.push_back(e.path().string());
    else if (ends_with(n, ".pt") || ends_with(n, ".pth")) pts.push_back(e.path().string());
  }
  std::string pick;
  if (indexes.size() == 1) pick = indexes[0];
  else if (indexes.empty() && singles.size() == 1 && pts.empty()) pick = singles[0];
  else if (indexes.empty() && singles.empty() && pts.size() == 1) pick = pts[0];
  if (pick.empty()) {
    if (has_transformer)
      fail(src.path, "a diffusers pipeline folder: pass its transformer/ (the DiT), text_encoder/ or vae/ folder");
    fail(src.path, "a folder with " + std::to_string(indexes.size()) + " index files, " + std::to_string(singles.size()) +
                       " safetensors and " + std::to_string(pts.size()) +
                       " .pt files: name the file to load (`worldloop inspect DIR` lists the roles)");
  }
  src.path = pick;
  open_path(src, key, rule);
}

void open_path(CheckpointSource& src, const std::string& key, ContainerRule rule) {
  std::error_code ec;
  if (fs::is_directory(src.path, ec)) return open_folder(src, key, rule);
  if (fs::exists(src.path, ec)) require_regular_file(src.path, "the checkpoint");  // a FIFO would block the read below
  if (ends_with(src.path, ".index.json")) return open_index(src, key, rule);
  uint8_t head[8] = {};
  std::ifstream in(src.path, std::ios::binary);
  if (!in) return open_safetensors(src, key, rule);  // reports the OS reason
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const size_t got = static_cast<size_t>(in.gcount());
  if (ZipArchive::looks_like_zip(head, got)) return open_pt(src, key, rule);
  if (looks_like_legacy_torch_save(head, got))
    fail(src.path, "a legacy torch.save file (before torch 1.6, not a ZIP archive): re-save it with a newer torch");
  open_safetensors(src, key, rule);
}

}  // namespace

CheckpointSource checkpoint_from_safetensors(SafetensorsFile file, const std::string& weights_key, ContainerRule rule) {
  CheckpointSource src;
  src.path = file.path();
  use_safetensors(src, std::make_shared<SafetensorsFile>(std::move(file)), weights_key, rule);
  return src;
}

CheckpointSource open_checkpoint(const std::string& path, const std::string& weights_key, ContainerRule rule) {
  CheckpointSource src;
  src.path = path;
  open_path(src, weights_key, rule);
  return src;
}

}  // namespace wl
