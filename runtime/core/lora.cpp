// LoRA key parsing and the float64 merge product.
#include "runtime/core/lora.h"

#include <algorithm>
#include <cstdlib>
#include <map>

#include "runtime/core/error.h"
#include "runtime/core/weight_map.h"
#include "runtime/core/weight_names.h"

namespace wl {

namespace {

bool is_number(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// "<prefix>base_model.model.<module>.lora_A[.default].weight" -> module, 'A' or 'B'.
bool parse_key(const std::string& key, std::string& module, char& which) {
  for (char w : {'A', 'B'}) {
    const std::string tag = std::string(".lora_") + w + ".";
    const size_t at = key.find(tag);
    if (at == std::string::npos) continue;
    const std::string tail = key.substr(at + tag.size());
    if (tail != "weight" && tail != "default.weight") return false;
    std::string head = key.substr(0, at);
    const std::string base = "base_model.model.";
    if (size_t b = head.find(base); b != std::string::npos) head = head.substr(b + base.size());
    module = unwrap_name(head);
    which = w;
    return true;
  }
  return false;
}

}  // namespace

LoraInput parse_lora_argument(const std::string& arg) {
  LoraInput in;
  in.path = arg;
  const size_t colon = arg.rfind(':');
  if (colon == std::string::npos || colon == 0) return in;
  const std::string tail = arg.substr(colon + 1);
  char* end = nullptr;
  const double v = std::strtod(tail.c_str(), &end);
  if (tail.empty() || end != tail.c_str() + tail.size())
    throw Error("--lora " + arg + ": the scale after ':' must be a number (FILE[:SCALE])");
  in.path = arg.substr(0, colon);
  in.scale = v;
  return in;
}

bool is_lora_target(const std::string& module) {
  // blocks.N.<attn>.<proj> or blocks.N.ffn.<0|2>
  const std::string p = "blocks.";
  if (module.compare(0, p.size(), p) != 0) return false;
  const size_t dot = module.find('.', p.size());
  if (dot == std::string::npos || !is_number(module.substr(p.size(), dot - p.size()))) return false;
  const std::string rest = module.substr(dot + 1);
  for (const char* a : {"self_attn.", "cross_attn."})
    for (const char* q : {"q", "k", "v", "o"})
      if (rest == std::string(a) + q) return true;
  return rest == "ffn.0" || rest == "ffn.2";
}

LoraSet read_lora(const std::string& path) {
  CheckpointSource src = open_checkpoint(path, "", ContainerRule::Lora);
  LoraSet set;
  set.path = src.path;
  set.format = src.format;
  set.container = src.container;
  set.skipped = src.skipped;
  std::map<std::string, LoraPair> pairs;
  for (SourceTensor& t : src.tensors) {
    std::string module;
    char which = 0;
    if (!parse_key(t.name, module, which)) {
      set.skipped.push_back(t.name + " (not a lora_A/lora_B weight)");
      continue;
    }
    if (!is_lora_target(module))
      throw Error(path + ": LoRA key '" + t.name + "' targets '" + module +
                  "', which is not a LoRA target (blocks.N.{self_attn,cross_attn}.{q,k,v,o}, blocks.N.ffn.{0,2})");
    LoraPair& p = pairs[module];
    p.module = module;
    SourceTensor& slot = which == 'A' ? p.a : p.b;
    if (slot.read) throw Error(path + ": two lora_" + std::string(1, which) + " weights for '" + module + "'");
    slot = std::move(t);
  }
  if (pairs.empty())
    throw Error(path + ": not a LoRA file (no '...lora_A.weight' / '...lora_B.weight' tensors" +
                (src.container.empty() ? std::string() : " in '" + src.container + "'") + ")");
  bool first = true;
  for (auto& [module, p] : pairs) {
    if (!p.a.read || !p.b.read)
      throw Error(path + ": LoRA for '" + module + "' has lora_" + (p.a.read ? "A" : "B") + " but no lora_" +
                  (p.a.read ? "B" : "A"));
    const Shape& a = p.a.info.shape;  // [r, in]
    const Shape& b = p.b.info.shape;  // [out, r]
    if (a.size() != 2 || b.size() != 2 || a[0] != b[1] || a[0] <= 0)
      throw Error(path + ": LoRA for '" + module + "' has lora_A " + shape_str(a) + " and lora_B " + shape_str(b) +
                  ", expected [r, in] and [out, r]");
    p.rank = a[0];
    if (first) set.rank = p.rank;
    else if (set.rank != p.rank) set.rank = 0;
    first = false;
    set.pairs.push_back(std::move(p));
  }
  return set;
}

void add_lora_product(Tensor& weight, const Tensor& a, const Tensor& b, double factor) {
  const int64_t out = weight.dim(0), in = weight.dim(1), r = a.dim(0);
  const std::vector<float> av = a.to_floats(), bv = b.to_floats();  // a [r, in], b [out, r]
  float* w = weight.f32();                                           // [out, in]
  std::vector<double> row(static_cast<size_t>(in));
  for (int64_t o = 0; o < out; ++o) {
    std::fill(row.begin(), row.end(), 0.0);
    for (int64_t k = 0; k < r; ++k) {
      const double bk = bv[static_cast<size_t>(o * r + k)];
      const float* ak = av.data() + k * in;
      for (int64_t i = 0; i < in; ++i) row[static_cast<size_t>(i)] += bk * ak[i];
    }
    for (int64_t i = 0; i < in; ++i) {
      float& x = w[o * in + i];
      x = static_cast<float>(static_cast<double>(x) + factor * row[static_cast<size_t>(i)]);
    }
  }
}

}  // namespace wl
