// WeightMap: sources -> canonical names -> LoRA merge.
#include "runtime/core/weight_map.h"

#include <algorithm>

#include "runtime/core/checkpoint_source.h"
#include "runtime/core/error.h"
#include "runtime/core/lora.h"
#include "runtime/core/weight_names.h"

namespace wl {

namespace {

[[noreturn]] void fail(const std::string& label, const std::string& problem) { throw Error(label + ": " + problem); }

std::string number(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

void WeightMap::add_source(CheckpointSource& src) {
  if (path_.empty()) {
    path_ = src.path;
    format_ = src.format;
    container_ = src.container;
    metadata_ = src.metadata;
  } else {
    format_ += " + " + src.format;
  }
  std::vector<std::string> unwrapped;
  unwrapped.reserve(src.tensors.size());
  for (const SourceTensor& t : src.tensors) unwrapped.push_back(unwrap_name(t.name));
  const NameScheme scheme = detect_name_scheme(unwrapped);
  scheme_ = name_scheme_label(scheme);
  std::map<std::string, std::string> origin;  // canonical -> name in the file
  for (const auto& [name, e] : entries_) origin[name] = e.info.name;
  for (size_t i = 0; i < src.tensors.size(); ++i) {
    SourceTensor& t = src.tensors[i];
    std::optional<std::string> name = canonical_name(scheme, unwrapped[i]);
    if (!name) {
      skipped_.push_back(t.name + " (not used by the engine)");
      continue;
    }
    auto it = entries_.find(*name);
    if (it != entries_.end()) {
      // HF umT5 ties encoder.embed_tokens to shared: one copy is enough.
      if (scheme == NameScheme::HfUmt5 && *name == "token_embedding.weight" && it->second.info.shape == t.info.shape) {
        skipped_.push_back(t.name + " (tied duplicate of the token embedding)");
        continue;
      }
      fail(src.path, "tensors '" + it->second.info.name + "' and '" + t.info.name + "' both map to '" + *name + "'");
    }
    entries_.emplace(*name, Entry{t.info, std::move(t.read)});
  }
  for (std::string& s : src.skipped) skipped_.push_back(std::move(s));
  if (src.single_file) single_ = std::make_shared<SafetensorsFile>(*src.single_file);
}

void WeightMap::merge_lora(const LoraInput& lora, const std::optional<double>& alpha) {
  const LoraSet set = read_lora(lora.path);
  for (const LoraPair& p : set.pairs) {
    const std::string target = p.module + ".weight";
    auto it = entries_.find(target);
    if (it == entries_.end())
      fail(lora.path, "LoRA targets '" + p.module + "', but " + path_ + " has no tensor '" + target + "'");
    Entry& e = it->second;
    const Shape want{p.b.info.shape[0], p.a.info.shape[1]};  // [out, in]
    if (e.info.shape != want)
      fail(lora.path, "LoRA for '" + p.module + "' makes " + shape_str(want) + " but the weight is " +
                          shape_str(e.info.shape));
    const double a = alpha.value_or(static_cast<double>(p.rank));
    const double factor = a / static_cast<double>(p.rank) * lora.scale;
    Tensor w = e.read().to(DType::F32);  // a copy: the mapped bytes stay untouched
    add_lora_product(w, p.a.read(), p.b.read(), factor);
    e.info.dtype = DType::F32;
    e.read = [w] { return w; };
  }
  std::string line = lora.path + ": " + std::to_string(set.pairs.size()) + " targets, rank " +
                     (set.rank ? std::to_string(set.rank) : std::string("mixed")) + ", alpha " +
                     (alpha ? number(*alpha) : std::string("= rank")) + ", scale " + number(lora.scale);
  if (!set.container.empty()) line += " (from '" + set.container + "')";
  loras_.push_back(line);
}

WeightMap WeightMap::open(const std::string& path, const WeightOptions& options) {
  return open(std::vector<std::string>{path}, options);
}

WeightMap WeightMap::open(const std::vector<std::string>& paths, const WeightOptions& options) {
  if (paths.empty()) throw Error("no weights file given");
  WeightMap m;
  for (const std::string& p : paths) {
    CheckpointSource src = open_checkpoint(p, options.weights_key);
    m.add_source(src);
  }
  if (paths.size() > 1) m.single_.reset();
  for (const LoraInput& l : options.loras) m.merge_lora(l, options.lora_alpha);
  return m;
}

WeightMap::WeightMap(SafetensorsFile file) {
  CheckpointSource src = checkpoint_from_safetensors(std::move(file));
  add_source(src);
}

const SafetensorsFile& WeightMap::file() const {
  if (!single_) fail(path_, "is " + format_ + ", not a single safetensors file");
  return *single_;
}

std::vector<std::string> WeightMap::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, _] : entries_) out.push_back(name);
  return out;
}

const TensorInfo& WeightMap::info(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) fail(path_, "missing tensor '" + name + "'");
  return it->second.info;
}

Tensor WeightMap::get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) fail(path_, "missing tensor '" + name + "'");
  if (it->second.info.dtype == DType::U8)
    fail(path_, "tensor '" + name + "' has dtype U8; weights must be F32, BF16 or F16");
  return it->second.read();
}

Tensor WeightMap::get(const std::string& name, const Shape& expected) const {
  const TensorInfo& t = info(name);
  if (t.shape != expected)
    fail(path_, "tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " + shape_str(expected));
  return get(name);
}

void WeightMap::require_finite() const {
  // An all-ones exponent is Inf (mantissa 0) or NaN, in every float format.
  struct Format {
    uint32_t exponent, mantissa, sign;
  };
  for (const auto& [name, entry] : entries_) {
    if (entry.info.dtype == DType::U8) continue;
    const Tensor t = entry.read();
    const bool f32 = t.dtype() == DType::F32;
    const Format f = f32 ? Format{0x7f800000u, 0x007fffffu, 0x80000000u}
                         : t.dtype() == DType::BF16 ? Format{0x7f80u, 0x007fu, 0x8000u} : Format{0x7c00u, 0x03ffu, 0x8000u};
    const int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t bits = f32 ? t.data<uint32_t>()[i] : t.data<uint16_t>()[i];
      if ((bits & f.exponent) != f.exponent) continue;
      const char* what = (bits & f.mantissa) ? "NaN" : (bits & f.sign) ? "-Inf" : "+Inf";
      fail(path_, "tensor '" + name + "' holds " + what + " (element " + std::to_string(i) + " of " +
                      std::to_string(n) + "); the weights are corrupt");
    }
  }
}

}  // namespace wl
