// Model detection from names and shapes (names: docs/checkpoints.md and the
// spec's sections 1.3, 2.6 and 3).
#include "runtime/core/model_detect.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "runtime/core/error.h"

namespace wl {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

int64_t count_blocks(const WeightMap& w, const std::string& head, const std::string& tail) {
  int64_t n = 0;
  while (w.has(head + std::to_string(n) + tail)) ++n;
  return n;
}

std::string dims(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

// An integer from the metadata's "config" JSON, or -1.
int64_t config_int(const WeightMap& w, const char* key) {
  auto it = w.metadata().find("config");
  if (it == w.metadata().end()) return -1;
  try {
    const nlohmann::json j = nlohmann::json::parse(it->second);
    if (j.contains(key) && j[key].is_number_integer()) return j[key].get<int64_t>();
  } catch (const nlohmann::json::exception&) {
  }
  return -1;
}

void add(DetectedModel& d, const std::string& k, const std::string& v) { d.config.emplace_back(k, v); }
void add(DetectedModel& d, const std::string& k, int64_t v) { d.config.emplace_back(k, std::to_string(v)); }

void detect_dit(const WeightMap& w, DetectedModel& d) {
  const Shape& pe = w.info("patch_embedding.weight").shape;  // [dim, C, pt, ph, pw]
  const int64_t layers = count_blocks(w, "blocks.", ".self_attn.q.weight");
  int64_t action_blocks = 0;
  bool mouse = false;
  int64_t keyboard = -1;
  for (int64_t b = 0; b < layers; ++b) {
    const std::string s = "blocks." + std::to_string(b) + ".action_model.";
    if (!w.has(s + "keyboard_embed.0.weight") && !w.has(s + "t_qkv.weight")) continue;
    ++action_blocks;
    mouse |= w.has(s + "t_qkv.weight");
    if (w.has(s + "keyboard_embed.0.weight")) keyboard = w.info(s + "keyboard_embed.0.weight").shape.at(1);
  }
  d.kind = action_blocks ? ModelKind::Mg2Dit : ModelKind::CausalDit;
  if (pe.size() != 5) {
    add(d, "patch_embedding", dims(pe) + " (expected [dim, channels, pt, ph, pw])");
    return;
  }
  const int64_t dim = pe[0];
  add(d, "dim", dim);
  add(d, "layers", layers);
  int64_t heads = config_int(w, "num_heads");
  add(d, "heads", heads > 0 ? std::to_string(heads) : dim % 128 == 0 ? std::to_string(dim / 128) + " (dim / 128)" : "unknown");
  add(d, "in channels", pe[1]);
  if (w.has("head.head.weight")) {
    const int64_t patch = pe[2] * pe[3] * pe[4];
    if (patch > 0) add(d, "out channels", w.info("head.head.weight").shape.at(0) / patch);
  }
  add(d, "patch", std::to_string(pe[2]) + "x" + std::to_string(pe[3]) + "x" + std::to_string(pe[4]));
  if (w.has("blocks.0.ffn.0.weight")) add(d, "ffn", w.info("blocks.0.ffn.0.weight").shape.at(0));
  if (w.has("text_embedding.0.weight")) add(d, "text dim", w.info("text_embedding.0.weight").shape.at(1));
  if (w.has("time_embedding.0.weight")) add(d, "freq dim", w.info("time_embedding.0.weight").shape.at(1));
  const bool clip = w.has("img_emb.proj.1.weight");
  std::string image = clip ? "CLIP image embedding (img_emb)" : "none";
  if (pe[1] > 16) image += std::string(clip ? ", " : "") + "image latents concatenated (" + std::to_string(pe[1]) + " in channels)";
  if (image.rfind("none, ", 0) == 0) image = image.substr(6);
  add(d, "image conditioning", image);
  if (action_blocks)
    add(d, "action module", std::to_string(action_blocks) + " blocks, keyboard " + std::to_string(keyboard) +
                                (mouse ? ", mouse" : ", no mouse"));
  else if (w.has("action_embedding.0.weight"))
    add(d, "action module", "action embedding, " + std::to_string(w.info("action_embedding.0.weight").shape.at(1)) + " bits");
  else
    add(d, "action module", "none");
  d.summary = std::string(model_kind_label(d.kind)) + ", dim " + std::to_string(dim) + ", " + std::to_string(layers) +
              " layers";
}

void detect_umt5(const WeightMap& w, DetectedModel& d) {
  d.kind = ModelKind::Umt5;
  const Shape& emb = w.info("token_embedding.weight").shape;  // [vocab, dim]
  const int64_t layers = count_blocks(w, "blocks.", ".attn.q.weight");
  add(d, "vocab", emb.at(0));
  add(d, "dim", emb.at(1));
  add(d, "layers", layers);
  if (w.has("blocks.0.attn.q.weight")) add(d, "attention dim", w.info("blocks.0.attn.q.weight").shape.at(0));
  if (w.has("blocks.0.pos_embedding.embedding.weight")) {
    const Shape& pos = w.info("blocks.0.pos_embedding.embedding.weight").shape;  // [buckets, heads]
    add(d, "heads", pos.at(1));
    add(d, "buckets", pos.at(0));
  }
  if (w.has("blocks.0.ffn.fc1.weight")) add(d, "ffn", w.info("blocks.0.ffn.fc1.weight").shape.at(0));
  d.summary = "umT5 encoder, dim " + std::to_string(emb.at(1)) + ", " + std::to_string(layers) + " layers";
}

}  // namespace

const char* model_kind_label(ModelKind k) {
  switch (k) {
    case ModelKind::CausalDit: return "causal Wan DiT";
    case ModelKind::Mg2Dit: return "Matrix-Game 2.0 DiT (with action module)";
    case ModelKind::Umt5: return "umT5 text encoder";
    case ModelKind::WanVae: return "Wan 2.1 VAE";
    case ModelKind::Taehv: return "TAEHV tiny decoder";
    case ModelKind::ClipVision: return "CLIP vision tower";
    case ModelKind::Lora: return "LoRA";
    case ModelKind::Unknown: return "unknown model";
  }
  return "?";
}

DetectedModel detect_model(const WeightMap& w) {
  DetectedModel d;
  bool vae_enc = false, vae_dec = false, taehv = false, visual = false, lora = false;
  for (const std::string& n : w.names()) {
    const TensorInfo& t = w.info(n);
    const int64_t numel = shape_numel(t.shape);
    d.parameters += numel;
    d.parameters_by_dtype[dtype_name(t.dtype)] += numel;
    vae_dec |= starts_with(n, "decoder.conv1.") || starts_with(n, "decoder.middle.") || starts_with(n, "decoder.upsamples.");
    vae_enc |= starts_with(n, "encoder.conv1.") || starts_with(n, "encoder.downsamples.");
    taehv |= (starts_with(n, "decoder.") || starts_with(n, "encoder.")) && n.size() > 8 &&
             std::isdigit(static_cast<unsigned char>(n[n.find('.') + 1]));
    visual |= starts_with(n, "visual.");
    lora |= n.find(".lora_A.") != std::string::npos;
  }
  if (w.has("patch_embedding.weight") && w.has("blocks.0.self_attn.q.weight")) detect_dit(w, d);
  else if (w.has("token_embedding.weight") && w.has("blocks.0.attn.q.weight")) detect_umt5(w, d);
  else if (vae_enc || vae_dec) {
    d.kind = ModelKind::WanVae;
    add(d, "parts", std::string(vae_enc ? "encoder" : "") + (vae_enc && vae_dec ? " + " : "") + (vae_dec ? "decoder" : ""));
    if (w.has("decoder.conv1.weight")) add(d, "decoder z channels", w.info("decoder.conv1.weight").shape.at(1));
    d.summary = std::string("Wan 2.1 VAE (") + d.config.back().second + ")";
  } else if (taehv) {
    d.kind = ModelKind::Taehv;
    d.summary = "TAEHV tiny autoencoder";
  } else if (visual) {
    d.kind = ModelKind::ClipVision;
    if (w.has("visual.patch_embedding.weight")) add(d, "dim", w.info("visual.patch_embedding.weight").shape.at(0));
    d.summary = "CLIP vision tower";
  } else if (lora) {
    d.kind = ModelKind::Lora;
    d.summary = "LoRA weights";
  } else {
    d.summary = "unknown model (" + std::to_string(w.names().size()) + " tensors)";
  }
  return d;
}

void expect_model(const WeightMap& w, ModelKind expected) {
  const DetectedModel d = detect_model(w);
  const bool dit_ok = (expected == ModelKind::CausalDit || expected == ModelKind::Mg2Dit) &&
                      (d.kind == ModelKind::CausalDit || d.kind == ModelKind::Mg2Dit);
  if (d.kind == expected || dit_ok) return;
  const std::string what = expected == ModelKind::CausalDit ? "DiT" : model_kind_label(expected);
  if (d.kind == ModelKind::Unknown)
    throw Error(w.path() + ": this is not a " + what + " (" + d.summary + "; `worldloop inspect` lists it)");
  const std::string is = model_kind_label(d.kind);
  const bool vowel = std::string("aeiouAEIOU").find(is[0]) != std::string::npos && is.rfind("umT5", 0) != 0;
  throw Error(w.path() + ": this is " + (vowel ? "an " : "a ") + is + ", not a " + what);
}

}  // namespace wl
