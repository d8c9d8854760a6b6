#include "runtime/model/dit_config.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/core/model_detect.h"
#include "runtime/core/safetensors.h"

namespace wl {

std::string DitConfig::describe() const {
  return "dim " + std::to_string(dim) + ", " + std::to_string(num_layers) + " blocks, " + std::to_string(num_heads) +
         " heads of " + std::to_string(head_dim()) + ", ffn " + std::to_string(ffn_dim) + ", channels " +
         std::to_string(in_dim) + "->" + std::to_string(out_dim) + ", patch " + std::to_string(patch_t) + "x" +
         std::to_string(patch_h) + "x" + std::to_string(patch_w) + ", text " + std::to_string(text_len) + "x" +
         std::to_string(text_dim);
}

namespace {

int64_t count_blocks(const WeightMap& w) {
  int64_t n = 0;
  while (w.has("blocks." + std::to_string(n) + ".self_attn.q.weight")) ++n;
  return n;
}

}  // namespace

DitConfig DitConfig::from_weights(const WeightMap& w, const std::string& model_config,
                                  const std::string& model_config_label) {
  const std::string& file = w.path();
  auto fail = [&](const std::string& what) -> Error { return Error(file + ": " + what); };
  DitConfig c;

  // Another model's file (a VAE, the text encoder, a LoRA) is named as such.
  if (!w.has("patch_embedding.weight") && detect_model(w).kind != ModelKind::Unknown) expect_model(w, ModelKind::CausalDit);

  // Shapes decide what they can.
  const TensorInfo& pe = w.info("patch_embedding.weight");  // [dim, C, pt, ph, pw]
  if (pe.shape.size() != 5) throw fail("tensor 'patch_embedding.weight' has shape " + shape_str(pe.shape) +
                                       ", expected [dim, channels, pt, ph, pw]");
  c.dim = pe.shape[0];
  c.in_dim = pe.shape[1];
  c.patch_t = static_cast<int>(pe.shape[2]);
  c.patch_h = static_cast<int>(pe.shape[3]);
  c.patch_w = static_cast<int>(pe.shape[4]);
  c.num_layers = count_blocks(w);
  if (c.num_layers == 0) throw fail("no transformer blocks (missing 'blocks.0.self_attn.q.weight')");
  c.ffn_dim = w.info("blocks.0.ffn.0.weight").shape.at(0);
  c.freq_dim = w.info("time_embedding.0.weight").shape.at(1);
  if (!w.has("text_embedding.0.weight") && w.has("img_emb.proj.1.weight")) {
    // MG2: image tokens through img_emb, no text (§2.1); no padding rows.
    c.image_dim = w.info("img_emb.proj.1.weight").shape.at(1);
    c.text_dim = c.image_dim;
    c.text_len = 0;
  } else {
    c.text_dim = w.info("text_embedding.0.weight").shape.at(1);
  }
  for (int64_t b = 0; b < c.num_layers; ++b)
    if (w.has("blocks." + std::to_string(b) + ".action_model.keyboard_embed.0.weight")) c.action_blocks.push_back(b);
  const Shape& head = w.info("head.head.weight").shape;
  const int64_t patch = int64_t{c.patch_t} * c.patch_h * c.patch_w;
  if (head.at(0) % patch) throw fail("tensor 'head.head.weight' rows not a multiple of the patch size");
  c.out_dim = head.at(0) / patch;
  c.num_heads = c.dim % 128 == 0 ? c.dim / 128 : 0;
  // The embedded worlds add a learned action embedding to each frame's time embedding.
  if (w.has("action_embedding.0.weight")) c.action_dim = w.info("action_embedding.0.weight").shape.at(1);

  // The model config gives what shapes cannot (heads, text_len, eps, cache
  // settings): the file's __metadata__.config or a separate config.json.
  const bool external = !model_config.empty();
  auto it = w.metadata().find("config");
  const std::string* config_text = external ? &model_config : (it != w.metadata().end() ? &it->second : nullptr);
  const std::string where = external ? (model_config_label.empty() ? std::string("the model config") : model_config_label)
                                     : std::string("__metadata__.config");
  auto fail_config = [&](const std::string& what) -> Error {
    return external ? Error(where + ": " + what + " (config for " + file + ")") : fail(where + what);
  };
  if (config_text) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(*config_text);
    } catch (const std::exception& e) {
      throw fail_config(std::string(external ? "" : " ") + "is not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw fail_config(std::string(external ? "" : " ") + "is not a JSON object");
    auto get_int = [&](const char* key, int64_t& out) {
      if (!j.contains(key)) return;
      if (!j[key].is_number_integer()) throw fail_config(std::string(external ? "" : ".") + key + " is not an integer");
      out = j[key].get<int64_t>();
    };
    get_int("num_heads", c.num_heads);
    if (c.image_dim == 0) get_int("text_len", c.text_len);
    if (!c.action_blocks.empty()) c.action_config_json = *config_text;
    get_int("local_attn_size", c.local_attn_size);
    get_int("sink_size", c.sink_size);
    int64_t action_dim = c.action_dim;
    get_int("action_dim", action_dim);
    if (action_dim != c.action_dim)
      throw fail_config(std::string(external ? "" : ".") + "action_dim is " + std::to_string(action_dim) + " but the checkpoint " +
                 (c.action_dim ? "has action_embedding.0.weight of width " + std::to_string(c.action_dim)
                               : std::string("has no action_embedding.0.weight")));
    if (j.contains("eps") && j["eps"].is_number()) {
      const double eps = j["eps"].get<double>();
      // A norm's epsilon: a negative one (or NaN) makes rsqrt of a negative mean NaN, silently.
      if (!(eps > 0.0 && eps <= 1.0))
        throw fail_config(std::string(external ? "" : ".") + "eps must be in (0, 1], got " + j["eps"].dump());
      c.eps = static_cast<float>(eps);
    }
    // Values the shapes already decided must agree; name the tensor that decided each.
    struct Derived {
      const char* key;
      int64_t value;
      const char* tensor;
    };
    const Derived derived[] = {
        {"dim", c.dim, "patch_embedding.weight"},      {"in_dim", c.in_dim, "patch_embedding.weight"},
        {"out_dim", c.out_dim, "head.head.weight"},    {"ffn_dim", c.ffn_dim, "blocks.0.ffn.0.weight"},
        {"freq_dim", c.freq_dim, "time_embedding.0.weight"}, {"text_dim", c.text_dim, "text_embedding.0.weight"},
        {"num_layers", c.num_layers, "blocks.{i}.*"},
    };
    for (const Derived& d : derived) {
      if (c.image_dim > 0 && std::string(d.key) == "text_dim") continue;  // MG2 configs keep Wan's 4096, unused
      int64_t declared = d.value;
      get_int(d.key, declared);
      if (declared != d.value)
        throw fail_config(std::string(external ? "" : ".") + d.key + " is " + std::to_string(declared) + " but tensor '" +
                   d.tensor + "' has shape " +
                   (std::string(d.tensor) == "blocks.{i}.*" ? std::to_string(d.value) + " blocks"
                                                            : shape_str(w.info(d.tensor).shape)) +
                   " (" + d.key + " " + std::to_string(d.value) + ")");
    }
  }
  if (!c.action_blocks.empty() && c.action_config_json.empty())
    throw fail("blocks." + std::to_string(c.action_blocks[0]) +
               ".action_model.* (a Matrix-Game 2.0 action module) needs the model config with its action_config "
               "(in __metadata__.config, or MG2's config.json through --config)");
  if (c.num_heads <= 0 || c.dim % c.num_heads)
    throw fail("cannot split dim " + std::to_string(c.dim) + " into " + std::to_string(c.num_heads) +
               " heads (give num_heads in __metadata__.config)");
  if (c.head_dim() % 2) throw fail("head width " + std::to_string(c.head_dim()) + " is odd; RoPE needs pairs");
  if (c.patch_t != 1) throw fail("temporal patch size " + std::to_string(c.patch_t) + " is not supported (only 1)");
  return c;
}

std::string read_model_config_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(path + ": no such file (the model config)");
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file (the model config)");
  if (st.st_size > (4 << 20)) throw Error(path + ": " + std::to_string(st.st_size) + " bytes is too large for a model config");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) throw Error(path + ": cannot read the model config");
  return text.str();
}

}  // namespace wl
