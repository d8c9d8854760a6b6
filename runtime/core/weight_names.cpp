// The rename table. Each row maps a pattern of dot-separated components to
// another ('#' is a block number, carried over); a row matches a prefix of a
// name and the rest of the name follows unchanged. The first matching row
// wins. Diffusers rows follow diffusers' convert_wan_to_diffusers mapping
// (spec section 3.2); HF rows follow transformers' UMT5 module names (spec 1.3).
#include "runtime/core/weight_names.h"

#include <sstream>

namespace wl {

namespace {

struct Row {
  const char* canonical;
  const char* other;
};

constexpr Row kDiffusers[] = {
    {"time_embedding.0", "condition_embedder.time_embedder.linear_1"},
    {"time_embedding.2", "condition_embedder.time_embedder.linear_2"},
    {"text_embedding.0", "condition_embedder.text_embedder.linear_1"},
    {"text_embedding.2", "condition_embedder.text_embedder.linear_2"},
    {"time_projection.1", "condition_embedder.time_proj"},
    {"img_emb.proj.0", "condition_embedder.image_embedder.norm1"},
    {"img_emb.proj.1", "condition_embedder.image_embedder.ff.net.0.proj"},
    {"img_emb.proj.3", "condition_embedder.image_embedder.ff.net.2"},
    {"img_emb.proj.4", "condition_embedder.image_embedder.norm2"},
    {"head.modulation", "scale_shift_table"},
    {"head.head", "proj_out"},
    {"blocks.#.modulation", "blocks.#.scale_shift_table"},
    {"blocks.#.ffn.0", "blocks.#.ffn.net.0.proj"},
    {"blocks.#.ffn.2", "blocks.#.ffn.net.2"},
    {"blocks.#.norm3", "blocks.#.norm2"},
    {"blocks.#.self_attn.q", "blocks.#.attn1.to_q"},
    {"blocks.#.self_attn.k", "blocks.#.attn1.to_k"},
    {"blocks.#.self_attn.v", "blocks.#.attn1.to_v"},
    {"blocks.#.self_attn.o", "blocks.#.attn1.to_out.0"},
    {"blocks.#.self_attn.norm_q", "blocks.#.attn1.norm_q"},
    {"blocks.#.self_attn.norm_k", "blocks.#.attn1.norm_k"},
    {"blocks.#.cross_attn.q", "blocks.#.attn2.to_q"},
    {"blocks.#.cross_attn.k", "blocks.#.attn2.to_k"},
    {"blocks.#.cross_attn.v", "blocks.#.attn2.to_v"},
    {"blocks.#.cross_attn.o", "blocks.#.attn2.to_out.0"},
    {"blocks.#.cross_attn.norm_q", "blocks.#.attn2.norm_q"},
    {"blocks.#.cross_attn.norm_k", "blocks.#.attn2.norm_k"},
    // I2V image keys (diffusers' added projections).
    {"blocks.#.cross_attn.k_img", "blocks.#.attn2.add_k_proj"},
    {"blocks.#.cross_attn.v_img", "blocks.#.attn2.add_v_proj"},
    {"blocks.#.cross_attn.norm_k_img", "blocks.#.attn2.norm_added_k"},
};

constexpr Row kHfUmt5[] = {
    {"token_embedding", "shared"},
    {"token_embedding", "encoder.embed_tokens"},
    {"blocks.#.attn.q", "encoder.block.#.layer.0.SelfAttention.q"},
    {"blocks.#.attn.k", "encoder.block.#.layer.0.SelfAttention.k"},
    {"blocks.#.attn.v", "encoder.block.#.layer.0.SelfAttention.v"},
    {"blocks.#.attn.o", "encoder.block.#.layer.0.SelfAttention.o"},
    {"blocks.#.pos_embedding.embedding", "encoder.block.#.layer.0.SelfAttention.relative_attention_bias"},
    {"blocks.#.norm1", "encoder.block.#.layer.0.layer_norm"},
    {"blocks.#.ffn.gate.0", "encoder.block.#.layer.1.DenseReluDense.wi_0"},
    {"blocks.#.ffn.fc1", "encoder.block.#.layer.1.DenseReluDense.wi_1"},
    {"blocks.#.ffn.fc2", "encoder.block.#.layer.1.DenseReluDense.wo"},
    {"blocks.#.norm2", "encoder.block.#.layer.1.layer_norm"},
    {"norm", "encoder.final_layer_norm"},
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, '.')) out.push_back(part);
  return out;
}

bool is_number(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Rewrites `name` from pattern `from` to pattern `to` when `from` matches its prefix.
std::optional<std::string> apply(const char* from, const char* to, const std::string& name) {
  const std::vector<std::string> f = split(from), n = split(name);
  if (n.size() < f.size()) return std::nullopt;
  std::string block;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") {
      if (!is_number(n[i])) return std::nullopt;
      block = n[i];
    } else if (f[i] != n[i]) {
      return std::nullopt;
    }
  }
  std::string out;
  for (const std::string& t : split(to)) out += (out.empty() ? "" : ".") + (t == "#" ? block : t);
  for (size_t i = f.size(); i < n.size(); ++i) out += "." + n[i];
  return out;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

void erase_all(std::string& s, const std::string& part) {
  for (size_t at; (at = s.find(part)) != std::string::npos;) s.erase(at, part.size());
}

}  // namespace

const char* name_scheme_label(NameScheme s) {
  switch (s) {
    case NameScheme::Canonical: return "wan";
    case NameScheme::Diffusers: return "diffusers";
    case NameScheme::HfUmt5: return "hf-transformers umT5";
  }
  return "?";
}

std::string unwrap_name(const std::string& name) {
  std::string s = name;
  erase_all(s, "_fsdp_wrapped_module.");
  erase_all(s, "_orig_mod.");
  if (starts_with(s, "model.")) s.erase(0, 6);
  return s;
}

NameScheme detect_name_scheme(const std::vector<std::string>& names) {
  for (const std::string& n : names) {
    if (starts_with(n, "condition_embedder.") || n.find(".attn1.") != std::string::npos ||
        n.find(".attn2.") != std::string::npos)
      return NameScheme::Diffusers;
    if (starts_with(n, "encoder.block.") || n == "shared.weight" || starts_with(n, "encoder.final_layer_norm."))
      return NameScheme::HfUmt5;
  }
  return NameScheme::Canonical;
}

std::optional<std::string> canonical_name(NameScheme scheme, const std::string& name) {
  if (scheme == NameScheme::Canonical) return name;
  if (scheme == NameScheme::Diffusers) {
    for (const Row& r : kDiffusers)
      if (auto out = apply(r.other, r.canonical, name)) return out;
    return name;
  }
  if (starts_with(name, "decoder.") || starts_with(name, "lm_head.")) return std::nullopt;
  for (const Row& r : kHfUmt5)
    if (auto out = apply(r.other, r.canonical, name)) return out;
  return name;
}

std::string scheme_name(NameScheme scheme, const std::string& canonical) {
  const Row* rows = scheme == NameScheme::Diffusers ? kDiffusers : kHfUmt5;
  const size_t n = scheme == NameScheme::Diffusers ? std::size(kDiffusers) : std::size(kHfUmt5);
  if (scheme == NameScheme::Canonical) return canonical;
  for (size_t i = 0; i < n; ++i)
    if (auto out = apply(rows[i].canonical, rows[i].other, canonical)) return *out;
  return canonical;
}

}  // namespace wl
