// Matrix-Game 2.0's action module (specs/text_action_checkpoints.md §2.3): in
// each action block, between the cross-attention and the FFN, a mouse branch
// attends over time at every spatial position and a keyboard branch
// cross-attends to per-frame keyboard tokens. Both see the 12 pixel-frame
// actions that end just before each latent frame (mg2_windows.h).
//
// Parameters are named as in the checkpoint under `blocks.<b>.action_model.`.
// The four *_norm.weight tensors are read (so a checkpoint without them is
// refused like the reference's strict load) but never applied: the
// reference's per-head RMS norm ignores its weight.
//
// Status: the module's own key/value windows live in Mg2ActionCache below,
// not yet in the cache/ KvStore, so the policies and the overlay do not see
// them (docs/mg2.md).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"
#include "runtime/core/weight_map.h"
#include "runtime/model/mg2_windows.h"

namespace wl {

struct Mg2ActionConfig {
  int64_t dim = 0;              // DiT width (x's last dim)
  int64_t keyboard_dim_in = 0;  // K: 4 universal, 2 gta, 7 templerun
  int64_t keyboard_hidden = 0;  // Hk: keyboard embedding width
  int64_t attn_width = 0;       // C_a: mouse and keyboard attention width
  int64_t head_dim = 64;        // required by the action RoPE table
  int64_t mouse_dim_in = 2;
  bool enable_mouse = true;
  int64_t local_attn_size = 6;  // W latent frames of keys per cache
  double rope_theta = 256.0;
  int64_t rope_time_dims = 8;   // mouse_qk_dim_list[0]: rotated dims per head (the rest stay)
  mg2::ActionWindow window;
  int64_t heads() const { return attn_width / head_dim; }
};

// The module's configuration from a model config JSON (MG2's config.json or
// the fixture's `config` metadata): `dim`, `local_attn_size` and
// `action_config` {keyboard_dim_in, hidden_size (Hk), keyboard_hidden_dim and
// mouse_hidden_dim (C_a, must agree), heads_num, windows_size,
// vae_time_compression_ratio, rope_theta, mouse_qk_dim_list, enable_mouse,
// mouse_dim_in}. Throws wl::Error naming `label` and the key.
Mg2ActionConfig parse_mg2_action_config(const std::string& config_json, const std::string& label);

// Key/value windows of one action block, per absolute latent frame.
struct Mg2ActionCache {
  struct FrameKV {
    std::vector<float> k, v;  // mouse: [S, C_a]; keyboard: [C_a]
  };
  std::map<int64_t, FrameKV> mouse, keyboard;
  void clear() { mouse.clear(); keyboard.clear(); }
};

class Mg2ActionModule {
 public:
  // Reads `prefix` + the names of §2.6 (e.g. "blocks.0.action_model.");
  // the config's widths are checked against the shapes, enable_mouse must
  // agree with the presence of t_qkv. Throws wl::Error naming file and tensor.
  Mg2ActionModule(const WeightMap& weights, const std::string& prefix, const Mg2ActionConfig& config,
                  ops::MatmulPrecision precision = ops::MatmulPrecision::F32);

  const Mg2ActionConfig& config() const { return config_; }

  // x [frames * tokens_per_frame, dim] (frame-major, CPU f32) for latent
  // frames [start, start+frames), updated in place. keyboard [N, K] and mouse
  // [N, 2] hold one row per pixel frame from the video's first, with
  // N >= rows_for_call(start, frames); mouse is ignored without the mouse
  // branch. Writes this call's keys into `cache` (overwriting an earlier call
  // for the same frames) and drops frames no later call can see.
  void forward(Tensor& x, int64_t start, int64_t frames, int64_t tokens_per_frame, const Tensor& keyboard,
               const Tensor& mouse, Mg2ActionCache& cache) const;

 private:
  void mouse_branch(Tensor& x, int64_t start, int64_t frames, int64_t S, const float* mouse,
                    Mg2ActionCache& cache) const;
  void keyboard_branch(Tensor& x, int64_t start, int64_t frames, int64_t S, const float* keyboard,
                       Mg2ActionCache& cache) const;
  // Per-head weightless RMS norm then the action RoPE at latent frame F, in place on [C_a].
  void norm_rope(float* z, int64_t latent_frame) const;

  Mg2ActionConfig config_;
  std::string file_;
  ops::LinearWeight keyboard_embed_0, keyboard_embed_2;  // [Hk, K], [Hk, Hk]
  ops::LinearWeight mouse_attn_q;                        // [C_a, dim]
  ops::LinearWeight keyboard_attn_kv;                    // [2 C_a, 12 Hk]
  ops::LinearWeight proj_keyboard;                       // [dim, C_a]
  ops::LinearWeight mouse_mlp_0, mouse_mlp_2;            // [C_a, dim + 24], [C_a, C_a]
  Tensor mouse_mlp_3_weight, mouse_mlp_3_bias;           // [C_a] LayerNorm, eps 1e-5
  ops::LinearWeight t_qkv;                               // [3 C_a, C_a]
  ops::LinearWeight proj_mouse;                          // [dim, C_a]
  std::vector<double> rope_freq_;                        // [rope_time_dims / 2]
};

}  // namespace wl
