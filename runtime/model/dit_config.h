// Configuration of a causal Wan DiT, read from a checkpoint: from
// `__metadata__.config` (JSON, Wan's key names) when present, otherwise derived
// from the tensor shapes (num_heads = dim / 128 then).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wl {

class WeightMap;

struct DitConfig {
  int64_t in_dim = 16;      // latent channels in
  int64_t out_dim = 16;     // latent channels out
  int64_t dim = 1536;       // model width
  int64_t ffn_dim = 8960;
  int64_t freq_dim = 256;   // sinusoid width of the time embedding
  int64_t text_dim = 4096;  // text encoder width
  int64_t text_len = 512;   // context rows after zero padding
  int64_t num_heads = 12;
  int64_t num_layers = 30;
  int patch_t = 1, patch_h = 2, patch_w = 2;
  float eps = 1e-6f;
  int64_t local_attn_size = -1;  // frames the reference cache holds (-1: unbounded)
  int64_t sink_size = 0;         // sink frames of the reference cache
  int64_t action_dim = 0;        // width of the per-frame action vector (0: no action embedding)
  // Matrix-Game 2.0 (specs/text_action_checkpoints.md §2): the context is
  // CLIP image tokens of this width through `img_emb` instead of text
  // through `text_embedding` (0: a text model).
  int64_t image_dim = 0;
  // Blocks with an `action_model` (MG2's action module), and the model
  // config JSON its settings come from ("" when there are none).
  std::vector<int64_t> action_blocks;
  std::string action_config_json;

  int64_t head_dim() const { return dim / num_heads; }
  // Tokens of one latent frame of H x W.
  int64_t tokens_per_frame(int64_t height, int64_t width) const {
    return (height / patch_h) * (width / patch_w);
  }
  std::string describe() const;

  // Reads and validates; throws wl::Error naming the file and the problem.
  // The model config (heads, cache settings, MG2's action_config) comes from
  // the file's __metadata__.config, or from `model_config` when given: the
  // text of a separate config.json (MG2 publishes its configs that way),
  // named `model_config_label` in errors.
  static DitConfig from_weights(const WeightMap& weights, const std::string& model_config = "",
                                const std::string& model_config_label = "");
};

// The text of a model config.json (regular file, at most 4 MiB); throws
// wl::Error naming the path when it is missing, not a file or too large.
std::string read_model_config_file(const std::string& path);

}  // namespace wl
