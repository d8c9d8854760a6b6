// specs/text_action_checkpoints.md §2.3 (the two branches), §2.5 (their
// caches), §2.6 (names and shapes).
#include "runtime/model/mg2_action_module.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"

namespace wl {
namespace {

constexpr float kHeadNormEps = 1e-6f;   // the action module's WanRMSNorm
constexpr float kMouseLnEps = 1e-5f;    // mouse_mlp.3, nn.LayerNorm's default

Tensor f32_copy(const Tensor& t) { return Tensor::from_floats(t.to_floats(), t.shape()); }

// softmax(q k_j^T * scale) v_j over keys k_j = keys[j] + off, v_j likewise, one head of width d.
void attend_one(const float* q, const std::vector<const float*>& keys, const std::vector<const float*>& values,
                int64_t d, float scale, float* out) {
  std::vector<float> s(keys.size());
  float m = -INFINITY;
  for (size_t j = 0; j < keys.size(); ++j) {
    float acc = 0.0f;
    for (int64_t c = 0; c < d; ++c) acc += q[c] * keys[j][c];
    s[j] = acc * scale;
    m = std::max(m, s[j]);
  }
  float denom = 0.0f;
  for (float& e : s) {
    e = std::exp(e - m);
    denom += e;
  }
  std::fill(out, out + d, 0.0f);
  for (size_t j = 0; j < values.size(); ++j) {
    const float w = s[j] / denom;
    for (int64_t c = 0; c < d; ++c) out[c] += w * values[j][c];
  }
}

void drop_before(std::map<int64_t, Mg2ActionCache::FrameKV>& m, int64_t frame) {
  m.erase(m.begin(), m.lower_bound(frame));
}

}  // namespace

Mg2ActionConfig parse_mg2_action_config(const std::string& config_json, const std::string& label) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(config_json);
  } catch (const nlohmann::json::exception& e) {
    throw Error(label + ": the model config is not JSON (" + e.what() + ")");
  }
  auto num = [&](const nlohmann::json& obj, const char* key, const std::string& where) -> int64_t {
    if (!obj.contains(key) || !obj.at(key).is_number_integer())
      throw Error(label + ": " + where + key + " is missing or not an integer");
    const int64_t v = obj.at(key).get<int64_t>();
    if (v <= 0 || v > (int64_t{1} << 20)) throw Error(label + ": " + where + key + " = " + std::to_string(v) +
                                                     " is outside 1..1048576");
    return v;
  };
  if (!j.is_object() || !j.contains("action_config") || !j.at("action_config").is_object())
    throw Error(label + ": the model config has no action_config object (not a Matrix-Game 2.0 model)");
  const nlohmann::json& a = j.at("action_config");
  const std::string ac = "action_config.";
  Mg2ActionConfig c;
  c.dim = num(j, "dim", "");
  c.local_attn_size = num(j, "local_attn_size", "");
  c.keyboard_dim_in = num(a, "keyboard_dim_in", ac);
  c.keyboard_hidden = num(a, "hidden_size", ac);
  c.attn_width = num(a, "keyboard_hidden_dim", ac);
  c.enable_mouse = a.value("enable_mouse", true);
  if (c.enable_mouse) {
    c.mouse_dim_in = num(a, "mouse_dim_in", ac);
    if (num(a, "mouse_hidden_dim", ac) != c.attn_width)
      throw Error(label + ": action_config.mouse_hidden_dim differs from keyboard_hidden_dim (the engine needs one C_a)");
  }
  const int64_t heads = num(a, "heads_num", ac);
  if (heads * 64 != c.attn_width)
    throw Error(label + ": action_config.heads_num " + std::to_string(heads) + " x head dim 64 != attention width " +
                std::to_string(c.attn_width));
  c.window.windows = num(a, "windows_size", ac);
  c.window.time_ratio = num(a, "vae_time_compression_ratio", ac);
  if (a.contains("rope_theta") && a.at("rope_theta").is_number()) c.rope_theta = a.at("rope_theta").get<double>();
  if (!(c.rope_theta > 1.0) || !std::isfinite(c.rope_theta))
    throw Error(label + ": action_config.rope_theta must be a finite number above 1");
  if (a.contains("mouse_qk_dim_list")) {
    const nlohmann::json& l = a.at("mouse_qk_dim_list");
    if (!l.is_array() || l.empty() || !l.at(0).is_number_integer())
      throw Error(label + ": action_config.mouse_qk_dim_list is not a list of integers");
    c.rope_time_dims = l.at(0).get<int64_t>();
  }
  return c;
}

Mg2ActionModule::Mg2ActionModule(const WeightMap& w, const std::string& prefix, const Mg2ActionConfig& c,
                                 ops::MatmulPrecision precision)
    : config_(c), file_(w.path()) {
  const int64_t K = c.keyboard_dim_in, Hk = c.keyboard_hidden, Ca = c.attn_width, D = c.dim;
  if (K <= 0 || Hk <= 0 || Ca <= 0 || D <= 0)
    throw Error(file_ + ": action module " + prefix + " has a non-positive width in its config");
  if (c.head_dim != 64 || Ca % 64 != 0)
    throw Error(file_ + ": action module " + prefix + " attention width " + std::to_string(Ca) +
                " is not a multiple of the head dim 64 that its RoPE table is built for");
  if (c.rope_time_dims <= 0 || c.rope_time_dims % 2 != 0 || c.rope_time_dims > c.head_dim)
    throw Error(file_ + ": action module rope time dims " + std::to_string(c.rope_time_dims) +
                " must be even and at most 64");
  const bool has_mouse = w.has(prefix + "t_qkv.weight");
  if (has_mouse != c.enable_mouse)
    throw Error(file_ + ": config enable_mouse is " + (c.enable_mouse ? "true" : "false") + " but tensor '" +
                prefix + "t_qkv.weight' is " + (has_mouse ? "present" : "absent"));
  const Tensor none;
  auto lin = [&](const std::string& name, const Shape& shape, bool bias) {
    return ops::prepare_linear(w.get(prefix + name + ".weight", shape),
                               bias ? f32_copy(w.get(prefix + name + ".bias", {shape[0]})) : none, precision);
  };
  keyboard_embed_0 = lin("keyboard_embed.0", {Hk, K}, true);
  keyboard_embed_2 = lin("keyboard_embed.2", {Hk, Hk}, true);
  mouse_attn_q = lin("mouse_attn_q", {Ca, D}, false);
  keyboard_attn_kv = lin("keyboard_attn_kv", {2 * Ca, c.window.rows() * Hk}, false);
  proj_keyboard = lin("proj_keyboard", {D, Ca}, false);
  // Present in the checkpoint, unused by the forward (the reference ignores them).
  w.get(prefix + "key_attn_q_norm.weight", {c.head_dim});
  w.get(prefix + "key_attn_k_norm.weight", {c.head_dim});
  if (c.enable_mouse) {
    const int64_t mouse_in = D + c.window.rows() * c.mouse_dim_in;
    mouse_mlp_0 = lin("mouse_mlp.0", {Ca, mouse_in}, true);
    mouse_mlp_2 = lin("mouse_mlp.2", {Ca, Ca}, true);
    mouse_mlp_3_weight = f32_copy(w.get(prefix + "mouse_mlp.3.weight", {Ca}));
    mouse_mlp_3_bias = f32_copy(w.get(prefix + "mouse_mlp.3.bias", {Ca}));
    t_qkv = lin("t_qkv", {3 * Ca, Ca}, false);
    proj_mouse = lin("proj_mouse", {D, Ca}, false);
    w.get(prefix + "img_attn_q_norm.weight", {c.head_dim});
    w.get(prefix + "img_attn_k_norm.weight", {c.head_dim});
  }
  // angle(F, u) = F * theta^(-2u / rope_time_dims) for the first rope_time_dims/2 pairs.
  for (int64_t u = 0; u < c.rope_time_dims / 2; ++u)
    rope_freq_.push_back(std::pow(c.rope_theta, -2.0 * static_cast<double>(u) / static_cast<double>(c.rope_time_dims)));
}

void Mg2ActionModule::norm_rope(float* z, int64_t latent_frame) const {
  const int64_t d = config_.head_dim;
  for (int64_t h = 0; h < config_.heads(); ++h) {
    float* zh = z + h * d;  // [64] one head
    double ss = 0.0;
    for (int64_t c = 0; c < d; ++c) ss += static_cast<double>(zh[c]) * zh[c];
    const float inv = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(d)) + kHeadNormEps);
    for (int64_t c = 0; c < d; ++c) zh[c] *= inv;
    for (size_t u = 0; u < rope_freq_.size(); ++u) {
      const double a = static_cast<double>(latent_frame) * rope_freq_[u];
      const float co = static_cast<float>(std::cos(a)), si = static_cast<float>(std::sin(a));
      const float re = zh[2 * u], im = zh[2 * u + 1];
      zh[2 * u] = re * co - im * si;
      zh[2 * u + 1] = im * co + re * si;
    }
  }
}

void Mg2ActionModule::forward(Tensor& x, int64_t start, int64_t frames, int64_t S, const Tensor& keyboard,
                              const Tensor& mouse, Mg2ActionCache& cache) const {
  const Mg2ActionConfig& c = config_;
  const int64_t need = mg2::rows_for_call(c.window, start, frames);
  if (x.dtype() != DType::F32 || x.dim(0) != frames * S || x.dim(1) != c.dim)
    throw Error("MG2 action module: x has shape " + shape_str(x.shape()) + ", expected [" +
                std::to_string(frames * S) + ", " + std::to_string(c.dim) + "]");
  if (keyboard.dim(0) < need || keyboard.dim(1) != c.keyboard_dim_in)
    throw Error("MG2 action module: keyboard rows " + shape_str(keyboard.shape()) + " for latent frames [" +
                std::to_string(start) + ", " + std::to_string(start + frames) + "), expected at least [" +
                std::to_string(need) + ", " + std::to_string(c.keyboard_dim_in) + "]");
  const Tensor kb = f32_copy(keyboard);  // [N, K]
  if (c.enable_mouse) {
    if (mouse.dim(0) < need || mouse.dim(1) != c.mouse_dim_in)
      throw Error("MG2 action module: mouse rows " + shape_str(mouse.shape()) + ", expected at least [" +
                  std::to_string(need) + ", " + std::to_string(c.mouse_dim_in) + "]");
    const Tensor ms = f32_copy(mouse);  // [N, 2]
    mouse_branch(x, start, frames, S, ms.f32(), cache);
  }
  keyboard_branch(x, start, frames, S, kb.f32(), cache);
  // The next call may be this chunk again (the next denoising step or the
  // clean pass), so keep this call's whole window.
  const int64_t oldest_needed = mg2::attended_frames(start, frames, c.local_attn_size).begin;
  drop_before(cache.mouse, oldest_needed);
  drop_before(cache.keyboard, oldest_needed);
}

void Mg2ActionModule::mouse_branch(Tensor& x, int64_t start, int64_t T, int64_t S, const float* ms,
                                   Mg2ActionCache& cache) const {
  const Mg2ActionConfig& c = config_;
  const int64_t D = c.dim, Ca = c.attn_width, R = c.window.rows(), M = c.mouse_dim_in, L = T * S;
  const int64_t in = D + R * M;
  Tensor u = Tensor::empty({L, in});  // [T*S, dim + 24]: token, then its frame's 12 mouse rows, c fastest
  for (int64_t i = 0; i < T; ++i) {
    const std::vector<int64_t> rows = mg2::action_rows(c.window, start + i);
    for (int64_t sp = 0; sp < S; ++sp) {
      float* dst = u.f32() + (i * S + sp) * in;
      std::copy_n(x.f32() + (i * S + sp) * D, D, dst);
      for (int64_t j = 0; j < R; ++j)
        for (int64_t m = 0; m < M; ++m) dst[D + j * M + m] = ms[rows[static_cast<size_t>(j)] * M + m];
    }
  }
  Tensor g = Tensor::empty({L, Ca});  // [T*S, C_a]
  ops::linear(u, mouse_mlp_0, g);
  ops::gelu_tanh(g);
  Tensor g2 = Tensor::empty({L, Ca});  // [T*S, C_a]
  ops::linear(g, mouse_mlp_2, g2);
  ops::layer_norm(g2, mouse_mlp_3_weight, mouse_mlp_3_bias, kMouseLnEps, g2);
  Tensor qkv = Tensor::empty({L, 3 * Ca});  // [T*S, 3 C_a]: q | k | v
  ops::linear(g2, t_qkv, qkv);
  for (int64_t i = 0; i < T; ++i) {
    Mg2ActionCache::FrameKV& slot = cache.mouse[start + i];
    slot.k.assign(static_cast<size_t>(S * Ca), 0.0f);  // [S, C_a]
    slot.v.assign(static_cast<size_t>(S * Ca), 0.0f);  // [S, C_a]
    for (int64_t sp = 0; sp < S; ++sp) {
      float* row = qkv.f32() + (i * S + sp) * 3 * Ca;
      norm_rope(row, start + i);       // q
      norm_rope(row + Ca, start + i);  // k
      std::copy_n(row + Ca, Ca, slot.k.data() + sp * Ca);
      std::copy_n(row + 2 * Ca, Ca, slot.v.data() + sp * Ca);
    }
  }
  const mg2::FrameRange win = mg2::attended_frames(start, T, c.local_attn_size);
  Tensor att = Tensor::empty({L, Ca});  // [T*S, C_a] heads concatenated
  const int64_t d = c.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
#pragma omp parallel for schedule(static)
  for (int64_t tok = 0; tok < L; ++tok) {
    const int64_t sp = tok % S;
    for (int64_t h = 0; h < c.heads(); ++h) {
      std::vector<const float*> ks, vs;
      for (int64_t f = win.begin; f < win.end; ++f) {
        const auto it = cache.mouse.find(f);
        if (it == cache.mouse.end()) continue;  // not written: the reference's empty slot is never read either
        ks.push_back(it->second.k.data() + sp * Ca + h * d);
        vs.push_back(it->second.v.data() + sp * Ca + h * d);
      }
      attend_one(qkv.f32() + tok * 3 * Ca + h * d, ks, vs, d, scale, att.f32() + tok * Ca + h * d);
    }
  }
  Tensor y = Tensor::empty({L, D});  // [T*S, dim]
  ops::linear(att, proj_mouse, y);
  ops::add(x, y);
}

void Mg2ActionModule::keyboard_branch(Tensor& x, int64_t start, int64_t T, int64_t S, const float* kb,
                                      Mg2ActionCache& cache) const {
  const Mg2ActionConfig& c = config_;
  const int64_t D = c.dim, Ca = c.attn_width, R = c.window.rows(), K = c.keyboard_dim_in, Hk = c.keyboard_hidden;
  const int64_t L = T * S, d = c.head_dim;
  Tensor rows_in = Tensor::empty({T * R, K});  // [T*12, K] the window's rows, frame-major, j next
  for (int64_t i = 0; i < T; ++i) {
    const std::vector<int64_t> rows = mg2::action_rows(c.window, start + i);
    for (int64_t j = 0; j < R; ++j)
      std::copy_n(kb + rows[static_cast<size_t>(j)] * K, K, rows_in.f32() + (i * R + j) * K);
  }
  Tensor e0 = Tensor::empty({T * R, Hk});  // [T*12, Hk]
  ops::linear(rows_in, keyboard_embed_0, e0);
  ops::silu(e0);
  Tensor e2 = Tensor::empty({T * R, Hk});  // [T*12, Hk] = gk [T, 12*Hk], j-major
  ops::linear(e0, keyboard_embed_2, e2);
  const Tensor gk = e2.reshape({T, R * Hk});  // [T, 12 Hk]
  Tensor kv = Tensor::empty({T, 2 * Ca});     // [T, 2 C_a]: k | v
  ops::linear(gk, keyboard_attn_kv, kv);
  for (int64_t i = 0; i < T; ++i) {
    float* row = kv.f32() + i * 2 * Ca;
    norm_rope(row, start + i);
    Mg2ActionCache::FrameKV& slot = cache.keyboard[start + i];
    slot.k.assign(row, row + Ca);           // [C_a]
    slot.v.assign(row + Ca, row + 2 * Ca);  // [C_a]
  }
  Tensor q = Tensor::empty({L, Ca});  // [T*S, C_a]
  ops::linear(x, mouse_attn_q, q);
  const mg2::FrameRange win = mg2::attended_frames(start, T, c.local_attn_size);
  Tensor att = Tensor::empty({L, Ca});  // [T*S, C_a]
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
#pragma omp parallel for schedule(static)
  for (int64_t tok = 0; tok < L; ++tok) {
    float* qt = q.f32() + tok * Ca;
    norm_rope(qt, start + tok / S);
    for (int64_t h = 0; h < c.heads(); ++h) {
      std::vector<const float*> ks, vs;
      for (int64_t f = win.begin; f < win.end; ++f) {
        const auto it = cache.keyboard.find(f);
        if (it == cache.keyboard.end()) continue;
        ks.push_back(it->second.k.data() + h * d);
        vs.push_back(it->second.v.data() + h * d);
      }
      attend_one(qt + h * d, ks, vs, d, scale, att.f32() + tok * Ca + h * d);
    }
  }
  Tensor y = Tensor::empty({L, D});  // [T*S, dim]
  ops::linear(att, proj_keyboard, y);
  ops::add(x, y);
}

}  // namespace wl
