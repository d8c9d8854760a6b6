#include "runtime/model/causal_dit.h"

#include <cmath>
#include <cstring>

#include "runtime/error.h"

namespace wl {
namespace {

// A checkpoint tensor checked against its expected shape, as F32.
Tensor load_f32(const WeightMap& w, const std::string& name, const Shape& shape) {
  return w.get(name, shape).to(DType::F32);
}

ops::LinearWeight load_linear(const WeightMap& w, const std::string& name, int64_t out, int64_t in,
                              ops::MatmulPrecision p) {
  Tensor weight = w.get(name + ".weight", {out, in});
  Tensor bias = w.get(name + ".bias", {out});
  return ops::prepare_linear(weight, bias, p);
}

Tensor linear(const Tensor& x, const ops::LinearWeight& w) {
  Tensor y = Tensor::empty({x.dim(0), w.out_features()});  // [rows, out]
  ops::linear(x, w, y);
  return y;
}

}  // namespace

CausalDit::CausalDit(const WeightMap& w, const DitOptions& options)
    : config_(DitConfig::from_weights(w)), precision_(options.precision), path_(w.path()) {
  const DitConfig& c = config_;
  const int64_t D = c.dim;
  const int64_t patch = int64_t{c.patch_t} * c.patch_h * c.patch_w;
  const ops::MatmulPrecision p = precision_;

  // The Conv3d patch embedding with kernel = stride is a linear map of each patch.
  const Tensor patch_weight = w.get("patch_embedding.weight", {D, c.in_dim, c.patch_t, c.patch_h, c.patch_w});
  patch_embedding_ = ops::prepare_linear(patch_weight.reshape({D, c.in_dim * patch}),  // [dim, C*ph*pw]
                                         w.get("patch_embedding.bias", {D}), p);
  time_embedding_0_ = load_linear(w, "time_embedding.0", D, c.freq_dim, p);
  time_embedding_2_ = load_linear(w, "time_embedding.2", D, D, p);
  time_projection_1_ = load_linear(w, "time_projection.1", 6 * D, D, p);
  text_embedding_0_ = load_linear(w, "text_embedding.0", D, c.text_dim, p);
  text_embedding_2_ = load_linear(w, "text_embedding.2", D, D, p);
  if (c.action_dim > 0) {
    action_embedding_0_ = load_linear(w, "action_embedding.0", D, c.action_dim, p);
    action_embedding_2_ = load_linear(w, "action_embedding.2", D, D, p);
  }
  head_modulation_ = load_f32(w, "head.modulation", {1, 2, D}).reshape({2, D});
  head_head_ = load_linear(w, "head.head", patch * c.out_dim, D, p);

  blocks_.resize(static_cast<size_t>(c.num_layers));
  for (int64_t b = 0; b < c.num_layers; ++b) {
    const std::string pre = "blocks." + std::to_string(b) + ".";
    Block& k = blocks_[b];
    k.modulation = load_f32(w, pre + "modulation", {1, 6, D}).reshape({6, D});
    k.self_q = load_linear(w, pre + "self_attn.q", D, D, p);
    k.self_k = load_linear(w, pre + "self_attn.k", D, D, p);
    k.self_v = load_linear(w, pre + "self_attn.v", D, D, p);
    k.self_o = load_linear(w, pre + "self_attn.o", D, D, p);
    k.self_norm_q = load_f32(w, pre + "self_attn.norm_q.weight", {D});
    k.self_norm_k = load_f32(w, pre + "self_attn.norm_k.weight", {D});
    k.norm3_weight = load_f32(w, pre + "norm3.weight", {D});
    k.norm3_bias = load_f32(w, pre + "norm3.bias", {D});
    k.cross_q = load_linear(w, pre + "cross_attn.q", D, D, p);
    k.cross_k = load_linear(w, pre + "cross_attn.k", D, D, p);
    k.cross_v = load_linear(w, pre + "cross_attn.v", D, D, p);
    k.cross_o = load_linear(w, pre + "cross_attn.o", D, D, p);
    k.cross_norm_q = load_f32(w, pre + "cross_attn.norm_q.weight", {D});
    k.cross_norm_k = load_f32(w, pre + "cross_attn.norm_k.weight", {D});
    k.ffn_0 = load_linear(w, pre + "ffn.0", c.ffn_dim, D, p);
    k.ffn_2 = load_linear(w, pre + "ffn.2", D, c.ffn_dim, p);
  }
}

cache::KvStoreConfig CausalDit::cache_config(int64_t height, int64_t width, int64_t capacity_frames,
                                             int64_t sink_frames) const {
  cache::KvStoreConfig kc;
  kc.blocks = config_.num_layers;
  kc.heads = config_.num_heads;
  kc.head_dim = config_.head_dim();
  kc.rows = height / config_.patch_h;
  kc.cols = width / config_.patch_w;
  kc.budget_tokens = capacity_frames * kc.tokens_per_frame();
  kc.sink_frames = sink_frames;
  // The reference attends to at most 32760 tokens (21 frames of Wan 1.3B at
  // 832x480) without a local window, and to the whole window with one.
  kc.max_attention_tokens =
      config_.local_attn_size < 0 ? 32760 : config_.local_attn_size * kc.tokens_per_frame();
  return kc;
}

void CausalDit::set_prompt(const Tensor& context) {
  const DitConfig& c = config_;
  if (context.rank() != 2 || context.dim(1) != c.text_dim)
    throw Error("prompt context has shape " + shape_str(context.shape()) + ", expected [L, " +
                std::to_string(c.text_dim) + "]");
  if (context.dim(0) > c.text_len)
    throw Error("prompt context has " + std::to_string(context.dim(0)) + " rows, more than text_len " +
                std::to_string(c.text_len));
  Tensor padded = Tensor::zeros({c.text_len, c.text_dim});            // [text_len, text_dim]
  std::memcpy(padded.raw(), context.to(DType::F32).raw(), context.numel() * sizeof(float));
  Tensor ctx = linear(padded, text_embedding_0_);                     // [text_len, dim]
  ops::gelu_tanh(ctx);
  ctx = linear(ctx, text_embedding_2_);                               // [text_len, dim]

  cross_kv_.assign(blocks_.size(), {});
  for (size_t b = 0; b < blocks_.size(); ++b) {
    Tensor k = linear(ctx, blocks_[b].cross_k);                       // [text_len, dim]
    ops::rms_norm(k, blocks_[b].cross_norm_k, c.eps, k);
    Tensor v = linear(ctx, blocks_[b].cross_v);                       // [text_len, dim]
    cross_kv_[b].k = k.reshape({c.text_len, c.num_heads, c.head_dim()});  // [text_len, H, d]
    cross_kv_[b].v = v.reshape({c.text_len, c.num_heads, c.head_dim()});  // [text_len, H, d]
  }
}

void CausalDit::embed_time(const std::vector<float>& t, const Tensor& actions, Tensor& e, Tensor& e0) const {
  const DitConfig& c = config_;
  const int64_t f = static_cast<int64_t>(t.size());
  const int64_t half = c.freq_dim / 2;
  Tensor emb = Tensor::empty({f, c.freq_dim});                        // [f, freq_dim]
  for (int64_t i = 0; i < f; ++i) {
    for (int64_t j = 0; j < half; ++j) {
      // float64 like the reference, cosines first.
      const double arg = static_cast<double>(t[i]) * std::pow(10000.0, -static_cast<double>(j) / half);
      emb.f32()[i * c.freq_dim + j] = static_cast<float>(std::cos(arg));
      emb.f32()[i * c.freq_dim + half + j] = static_cast<float>(std::sin(arg));
    }
  }
  Tensor h = linear(emb, time_embedding_0_);                          // [f, dim]
  ops::silu(h);
  e = linear(h, time_embedding_2_);                                   // [f, dim]
  if (c.action_dim > 0) {
    // e += action_embedding.2(SiLU(action_embedding.0(a))) per frame.
    Tensor a = actions.defined() ? actions.to(DType::F32) : Tensor::zeros({f, c.action_dim});  // [f, action_dim]
    Tensor ha = linear(a, action_embedding_0_);                       // [f, dim]
    ops::silu(ha);
    ops::add(e, linear(ha, action_embedding_2_));                     // [f, dim]
  }
  Tensor se = e.clone();                                              // [f, dim]
  ops::silu(se);
  e0 = linear(se, time_projection_1_).reshape({f, 6, c.dim});         // [f, 6, dim]
}

Tensor CausalDit::forward(const Tensor& x, const std::vector<float>& t, int64_t start_frame, cache::KvAccess& cache,
                          bool cache_update, const Tensor& actions) {
  const DitConfig& c = config_;
  if (!has_prompt()) throw Error("forward: no prompt set");
  if (x.rank() != 4 || x.dim(1) != c.in_dim)
    throw Error("forward: latents have shape " + shape_str(x.shape()) + ", expected [f, " + std::to_string(c.in_dim) +
                ", H, W]");
  const int64_t f = x.dim(0), height = x.dim(2), width = x.dim(3);
  if (height % c.patch_h || width % c.patch_w)
    throw Error("forward: latent size " + std::to_string(height) + "x" + std::to_string(width) +
                " is not a multiple of the patch " + std::to_string(c.patch_h) + "x" + std::to_string(c.patch_w));
  if (static_cast<int64_t>(t.size()) != f)
    throw Error("forward: " + std::to_string(t.size()) + " timesteps for " + std::to_string(f) + " frames");
  if (start_frame < 0) throw Error("forward: negative start frame");
  const int64_t rows = height / c.patch_h, cols = width / c.patch_w;
  const int64_t tpf = rows * cols;
  const int64_t T = f * tpf;
  cache.check_layout(c.num_layers, c.num_heads, c.head_dim(), rows, cols);

  if (actions.defined()) {
    if (c.action_dim == 0) throw Error("forward: actions given to a model without an action embedding");
    if (actions.shape() != Shape{f, c.action_dim})
      throw Error("forward: actions have shape " + shape_str(actions.shape()) + ", expected [" + std::to_string(f) +
                  ", " + std::to_string(c.action_dim) + "]");
  }
  Tensor e, e0;
  embed_time(t, actions, e, e0);                                               // e [f, dim], e0 [f, 6, dim]

  Tensor patches = Tensor::empty({T, c.in_dim * c.patch_h * c.patch_w});  // [T, C*ph*pw]
  ops::patchify(x.to(DType::F32), c.patch_h, c.patch_w, patches);
  Tensor h = linear(patches, patch_embedding_);                       // [T, dim]

  cache.begin_call(start_frame, f, cache_update);
  for (int64_t b = 0; b < c.num_layers; ++b) run_block(b, h, e0, start_frame, f, rows, cols, cache);
  cache.end_call();

  // Head: shift (row 0) and scale (row 1) from head.modulation + e.
  Tensor head_mod = Tensor::empty({f, 2, c.dim});                     // [f, 2, dim]
  for (int64_t i = 0; i < f; ++i)
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t j = 0; j < c.dim; ++j)
        head_mod.f32()[(i * 2 + r) * c.dim + j] = head_modulation_.f32()[r * c.dim + j] + e.f32()[i * c.dim + j];
  ops::layer_norm_modulate(h, head_mod, 0, 1, tpf, c.eps, h);         // [T, dim]
  Tensor out_tokens = linear(h, head_head_);                          // [T, ph*pw*out_dim]
  Tensor out = Tensor::empty({f, c.out_dim, height, width});          // [f, C_out, H, W]
  ops::unpatchify(out_tokens, f, rows, cols, c.patch_h, c.patch_w, c.out_dim, out);
  return out;
}

void CausalDit::run_block(int64_t b, Tensor& x, const Tensor& e0, int64_t start_frame, int64_t frames, int64_t rows,
                          int64_t cols, cache::KvAccess& cache) const {
  const DitConfig& c = config_;
  const Block& k = blocks_[b];
  const int64_t T = x.dim(0), D = c.dim, H = c.num_heads, d = c.head_dim();
  const int64_t tpf = rows * cols;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  // m = modulation + e0[frame]: shift1, scale1, gate1, shift2, scale2, gate2.
  Tensor mod = Tensor::empty({frames, 6, D});                         // [f, 6, dim]
  for (int64_t i = 0; i < frames; ++i)
    for (int64_t j = 0; j < 6 * D; ++j) mod.f32()[i * 6 * D + j] = k.modulation.f32()[j] + e0.f32()[i * 6 * D + j];

  // Self-attention over the cache.
  Tensor h = Tensor::empty({T, D});                                   // [T, dim]
  ops::layer_norm_modulate(x, mod, 0, 1, tpf, c.eps, h);
  Tensor q = linear(h, k.self_q);                                     // [T, dim]
  ops::rms_norm(q, k.self_norm_q, c.eps, q);
  Tensor key = linear(h, k.self_k);                                   // [T, dim]
  ops::rms_norm(key, k.self_norm_k, c.eps, key);
  Tensor v = linear(h, k.self_v);                                     // [T, dim]
  q = q.reshape({T, H, d});                                           // [T, H, d]
  key = key.reshape({T, H, d});                                       // [T, H, d]

  // The cache keeps keys before and after RoPE; policies see both queries.
  const Tensor q_raw = q.clone();                                     // [T, H, d]
  const Tensor key_raw = key.clone();                                 // [T, H, d]
  ops::rope_3d(q, start_frame, frames, rows, cols);
  ops::rope_3d(key, start_frame, frames, rows, cols);
  cache.write_call(b, key_raw.f32(), key.f32(), v.f32(), T);
  cache.observe(b, q_raw.f32(), q.f32(), T);

  Tensor attn = Tensor::empty({T, H, d});                             // [T, H, d]
  ops::attention(q, cache.segments(b, key.f32(), v.f32(), T), scale, attn);
  Tensor y = linear(attn.reshape({T, D}), k.self_o);                  // [T, dim]
  ops::gated_add(x, y, mod, 2, tpf);

  // Cross-attention to the prompt (k/v computed in set_prompt).
  ops::layer_norm(x, k.norm3_weight, k.norm3_bias, c.eps, h);        // [T, dim]
  Tensor cq = linear(h, k.cross_q);                                   // [T, dim]
  ops::rms_norm(cq, k.cross_norm_q, c.eps, cq);
  const CrossKV& ckv = cross_kv_[b];
  ops::KVSegment seg{ckv.k.f32(), ckv.v.f32(), nullptr, ckv.k.dim(0)};
  ops::attention(cq.reshape({T, H, d}), {seg}, scale, attn);          // [T, H, d]
  y = linear(attn.reshape({T, D}), k.cross_o);                        // [T, dim]
  ops::add(x, y);

  // Feed-forward.
  ops::layer_norm_modulate(x, mod, 3, 4, tpf, c.eps, h);              // [T, dim]
  Tensor f1 = linear(h, k.ffn_0);                                     // [T, ffn]
  ops::gelu_tanh(f1);
  y = linear(f1, k.ffn_2);                                            // [T, dim]
  ops::gated_add(x, y, mod, 5, tpf);
}

}  // namespace wl
