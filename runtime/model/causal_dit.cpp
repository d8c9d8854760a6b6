#include "runtime/model/causal_dit.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "runtime/core/error.h"

namespace wl {
namespace {

// A checkpoint vector (norm weight, modulation) checked against its expected
// shape, as F32 on `on`.
Tensor load_f32(const WeightMap& w, const std::string& name, const Shape& shape, const Shape& as, Backend on) {
  return ops::to_backend(w.get(name, shape).to(DType::F32).reshape(as), on);
}

ops::LinearWeight load_linear(const WeightMap& w, const std::string& name, int64_t out, int64_t in,
                              ops::MatmulPrecision p, Backend on) {
  Tensor weight = w.get(name + ".weight", {out, in});
  Tensor bias = w.get(name + ".bias", {out});
  return ops::prepare_linear(weight, bias, p, on);
}

// y <- x W^T + b; y is a view (or reshape) of a preallocated buffer.
void linear_into(const Tensor& x, const ops::LinearWeight& w, Tensor y) { ops::linear(x, w, y); }

// dst <- src as F32 (src on any backend; a conversion only happens on the host).
void copy_as_f32(const Tensor& src, Tensor& dst, const char* what) {
  if (src.dtype() == DType::F32) return ops::copy(src, dst);
  if (src.backend() != Backend::CPU)
    throw Error(std::string("forward: ") + what + " on the device must be F32, got " + dtype_name(src.dtype()));
  ops::copy(src.to(DType::F32), dst);
}

bool graphs_wanted(const DitOptions& o) {
  if (o.backend != Backend::CUDA || !o.cuda_graphs) return false;
  const char* env = std::getenv("WORLDLOOP_CUDA_GRAPHS");
  return !(env && std::string(env) == "0");
}

}  // namespace

CausalDit::CausalDit(const WeightMap& w, const DitOptions& options)
    : config_(DitConfig::from_weights(w, options.model_config, options.model_config_label)),
      precision_(options.precision),
      backend_(options.backend),
      path_(w.path()),
      workspace_(options.backend),
      graphs_(graphs_wanted(options)) {
  if (!ops::backend_available(backend_))
    throw Error(path_ + ": cannot load the model on the CUDA backend: " + ops::backend_unavailable_reason(backend_));
  const DitConfig& c = config_;
  const int64_t D = c.dim;
  const int64_t patch = int64_t{c.patch_t} * c.patch_h * c.patch_w;
  const ops::MatmulPrecision p = precision_;
  const Backend on = backend_;

  // The Conv3d patch embedding with kernel = stride is a linear map of each patch.
  const Tensor patch_weight = w.get("patch_embedding.weight", {D, c.in_dim, c.patch_t, c.patch_h, c.patch_w});
  patch_embedding_ = ops::prepare_linear(patch_weight.reshape({D, c.in_dim * patch}),  // [dim, C*ph*pw]
                                         w.get("patch_embedding.bias", {D}), p, on);
  time_embedding_0_ = load_linear(w, "time_embedding.0", D, c.freq_dim, p, on);
  time_embedding_2_ = load_linear(w, "time_embedding.2", D, D, p, on);
  time_projection_1_ = load_linear(w, "time_projection.1", 6 * D, D, p, on);
  if (c.image_dim > 0) {
    // MG2's img_emb runs once per video on the host (set_prompt).
    const int64_t I = c.image_dim;
    img_emb_0_weight_ = w.get("img_emb.proj.0.weight", {I}).to(DType::F32);
    img_emb_0_bias_ = w.get("img_emb.proj.0.bias", {I}).to(DType::F32);
    img_emb_1_ = load_linear(w, "img_emb.proj.1", I, I, ops::MatmulPrecision::F32, Backend::CPU);
    img_emb_3_ = load_linear(w, "img_emb.proj.3", D, I, ops::MatmulPrecision::F32, Backend::CPU);
    img_emb_4_weight_ = w.get("img_emb.proj.4.weight", {D}).to(DType::F32);
    img_emb_4_bias_ = w.get("img_emb.proj.4.bias", {D}).to(DType::F32);
  } else {
    text_embedding_0_ = load_linear(w, "text_embedding.0", D, c.text_dim, p, on);
    text_embedding_2_ = load_linear(w, "text_embedding.2", D, D, p, on);
  }
  if (!c.action_blocks.empty()) {
    if (on != Backend::CPU)
      throw Error(path_ + ": the Matrix-Game 2.0 action module runs on the CPU only so far (use --backend cpu)");
    Mg2ActionConfig ac = parse_mg2_action_config(c.action_config_json, path_);
    if (ac.dim != D)
      throw Error(path_ + ": config dim " + std::to_string(ac.dim) + " differs from patch_embedding.weight's " +
                  std::to_string(D));
    action_modules_.resize(static_cast<size_t>(c.num_layers));
    action_caches_.resize(static_cast<size_t>(c.num_layers));
    for (int64_t b : c.action_blocks)
      action_modules_[static_cast<size_t>(b)] =
          std::make_unique<Mg2ActionModule>(w, "blocks." + std::to_string(b) + ".action_model.", ac, p);
  }
  if (c.action_dim > 0) {
    action_embedding_0_ = load_linear(w, "action_embedding.0", D, c.action_dim, p, on);
    action_embedding_2_ = load_linear(w, "action_embedding.2", D, D, p, on);
  }
  head_modulation_ = load_f32(w, "head.modulation", {1, 2, D}, {2, D}, on);
  head_head_ = load_linear(w, "head.head", patch * c.out_dim, D, p, on);

  blocks_.resize(static_cast<size_t>(c.num_layers));
  for (int64_t b = 0; b < c.num_layers; ++b) {
    const std::string pre = "blocks." + std::to_string(b) + ".";
    Block& k = blocks_[b];
    k.modulation = load_f32(w, pre + "modulation", {1, 6, D}, {6, D}, on);
    k.self_q = load_linear(w, pre + "self_attn.q", D, D, p, on);
    k.self_k = load_linear(w, pre + "self_attn.k", D, D, p, on);
    k.self_v = load_linear(w, pre + "self_attn.v", D, D, p, on);
    k.self_o = load_linear(w, pre + "self_attn.o", D, D, p, on);
    k.self_norm_q = load_f32(w, pre + "self_attn.norm_q.weight", {D}, {D}, on);
    k.self_norm_k = load_f32(w, pre + "self_attn.norm_k.weight", {D}, {D}, on);
    k.norm3_weight = load_f32(w, pre + "norm3.weight", {D}, {D}, on);
    k.norm3_bias = load_f32(w, pre + "norm3.bias", {D}, {D}, on);
    k.cross_q = load_linear(w, pre + "cross_attn.q", D, D, p, on);
    k.cross_k = load_linear(w, pre + "cross_attn.k", D, D, p, on);
    k.cross_v = load_linear(w, pre + "cross_attn.v", D, D, p, on);
    k.cross_o = load_linear(w, pre + "cross_attn.o", D, D, p, on);
    k.cross_norm_q = load_f32(w, pre + "cross_attn.norm_q.weight", {D}, {D}, on);
    k.cross_norm_k = load_f32(w, pre + "cross_attn.norm_k.weight", {D}, {D}, on);
    k.ffn_0 = load_linear(w, pre + "ffn.0", c.ffn_dim, D, p, on);
    k.ffn_2 = load_linear(w, pre + "ffn.2", D, c.ffn_dim, p, on);
  }
}

cache::KvStoreConfig dit_cache_config(const DitConfig& c, int64_t height, int64_t width, int64_t capacity_frames,
                                      int64_t sink_frames, Backend backend) {
  cache::KvStoreConfig kc;
  kc.blocks = c.num_layers;
  kc.heads = c.num_heads;
  kc.head_dim = c.head_dim();
  kc.rows = height / c.patch_h;
  kc.cols = width / c.patch_w;
  kc.budget_tokens = capacity_frames * kc.tokens_per_frame();
  kc.sink_frames = sink_frames;
  // The reference attends to at most 32760 tokens (21 frames of Wan 1.3B at
  // 832x480) without a local window, and to the whole window with one.
  kc.max_attention_tokens = c.local_attn_size < 0 ? 32760 : c.local_attn_size * kc.tokens_per_frame();
  kc.backend = backend;
  return kc;
}

cache::KvStoreConfig CausalDit::cache_config(int64_t height, int64_t width, int64_t capacity_frames,
                                             int64_t sink_frames) const {
  // On the model's backend: the model hands the cache pointers into its own memory.
  return dit_cache_config(config_, height, width, capacity_frames, sink_frames, backend_);
}

void CausalDit::reset_action_caches() {
  for (Mg2ActionCache& cache : action_caches_) cache.clear();
}

void CausalDit::set_prompt(const Tensor& context) {
  const DitConfig& c = config_;
  if (c.image_dim > 0) return set_cross_kv(image_embedding(context));
  if (context.rank() != 2 || context.dim(1) != c.text_dim)
    throw Error("prompt context has shape " + shape_str(context.shape()) + ", expected [L, " +
                std::to_string(c.text_dim) + "]");
  if (context.dim(0) > c.text_len)
    throw Error("prompt context has " + std::to_string(context.dim(0)) + " rows, more than text_len " +
                std::to_string(c.text_len));
  const Tensor host = ops::to_backend(context, Backend::CPU).to(DType::F32);  // [L, text_dim]
  Tensor padded = Tensor::zeros({c.text_len, c.text_dim});        // [text_len, text_dim]
  if (host.numel()) std::memcpy(padded.raw(), host.raw(), host.nbytes());
  const Tensor ctx_in = ops::to_backend(padded, backend_);        // [text_len, text_dim]
  Tensor hidden = ops::empty({c.text_len, c.dim}, backend_);      // [text_len, dim]
  linear_into(ctx_in, text_embedding_0_, hidden);
  ops::gelu_tanh(hidden);
  Tensor ctx = ops::empty({c.text_len, c.dim}, backend_);         // [text_len, dim]
  linear_into(hidden, text_embedding_2_, ctx);
  set_cross_kv(ctx);
}

Tensor CausalDit::image_embedding(const Tensor& tokens) const {
  const DitConfig& c = config_;
  if (tokens.rank() != 2 || tokens.dim(0) < 1 || tokens.dim(1) != c.image_dim)
    throw Error("image context has shape " + shape_str(tokens.shape()) + ", expected [L, " +
                std::to_string(c.image_dim) + "] CLIP tokens");
  constexpr float kLnEps = 1e-5f;  // nn.LayerNorm's default in img_emb
  const int64_t L = tokens.dim(0);
  Tensor h = ops::to_backend(tokens, Backend::CPU).to(DType::F32);  // [L, image_dim]
  ops::layer_norm(h, img_emb_0_weight_, img_emb_0_bias_, kLnEps, h);
  Tensor g = Tensor::empty({L, c.image_dim});                     // [L, image_dim]
  ops::linear(h, img_emb_1_, g);
  for (int64_t i = 0; i < g.numel(); ++i) {                       // exact erf GELU (the FFNs use tanh)
    const float v = g.f32()[i];
    g.f32()[i] = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
  }
  Tensor ctx = Tensor::empty({L, c.dim});                         // [L, dim]
  ops::linear(g, img_emb_3_, ctx);
  ops::layer_norm(ctx, img_emb_4_weight_, img_emb_4_bias_, kLnEps, ctx);
  return ops::to_backend(ctx, backend_);
}

void CausalDit::set_cross_kv(const Tensor& ctx) {
  const DitConfig& c = config_;
  const int64_t L = ctx.dim(0);
  std::vector<CrossKV> kv(blocks_.size());
  for (size_t b = 0; b < blocks_.size(); ++b) {
    Tensor k = ops::empty({L, c.dim}, backend_);                  // [L, dim]
    linear_into(ctx, blocks_[b].cross_k, k);
    ops::rms_norm(k, blocks_[b].cross_norm_k, c.eps, k);
    Tensor v = ops::empty({L, c.dim}, backend_);                  // [L, dim]
    linear_into(ctx, blocks_[b].cross_v, v);
    kv[b].k = k.reshape({L, c.num_heads, c.head_dim()});          // [L, H, d]
    kv[b].v = v.reshape({L, c.num_heads, c.head_dim()});          // [L, H, d]
  }
  graphs_.clear();  // recorded graphs read the old keys and values
  cross_kv_ = std::move(kv);
  ++prompt_generation_;
}

void CausalDit::upload_inputs(const Tensor& x, const std::vector<float>& t, const Tensor& actions,
                              DitActivations& a) const {
  const DitConfig& c = config_;
  const int64_t f = static_cast<int64_t>(t.size());
  copy_as_f32(x, a.x_in, "latents");

  // The sinusoid of each frame's timestep, on the host in float64 like the
  // reference, cosines first.
  const int64_t half = c.freq_dim / 2;
  Tensor emb = Tensor::empty({f, c.freq_dim});                    // [f, freq_dim]
  for (int64_t i = 0; i < f; ++i) {
    for (int64_t j = 0; j < half; ++j) {
      const double arg = static_cast<double>(t[i]) * std::pow(10000.0, -static_cast<double>(j) / half);
      emb.f32()[i * c.freq_dim + j] = static_cast<float>(std::cos(arg));
      emb.f32()[i * c.freq_dim + half + j] = static_cast<float>(std::sin(arg));
    }
  }
  ops::copy(emb, a.emb);

  if (c.action_dim > 0) {
    if (actions.defined()) copy_as_f32(actions, a.actions, "actions");
    else ops::copy(Tensor::zeros({f, c.action_dim}), a.actions);  // no keys pressed
  }
}

void CausalDit::embed(DitActivations& a) const {
  const DitConfig& c = config_;
  const int64_t f = a.e.dim(0);
  // e = time_embedding.2(SiLU(time_embedding.0(emb))) per frame.
  linear_into(a.emb, time_embedding_0_, a.t_hidden);              // [f, dim]
  ops::silu(a.t_hidden);
  linear_into(a.t_hidden, time_embedding_2_, a.e);                // [f, dim]
  if (c.action_dim > 0) {
    // e += action_embedding.2(SiLU(action_embedding.0(a))) per frame.
    linear_into(a.actions, action_embedding_0_, a.a_hidden);      // [f, dim]
    ops::silu(a.a_hidden);
    linear_into(a.a_hidden, action_embedding_2_, a.a_emb);        // [f, dim]
    ops::add(a.e, a.a_emb);
  }
  // e0 = time_projection.1(SiLU(e)).
  ops::copy(a.e, a.e_silu);                                       // [f, dim]
  ops::silu(a.e_silu);
  linear_into(a.e_silu, time_projection_1_, a.e0.reshape({f, 6 * c.dim}));  // [f, 6*dim]

  ops::patchify(a.x_in, c.patch_h, c.patch_w, a.patches);         // [T, C*ph*pw]
  linear_into(a.patches, patch_embedding_, a.x);                  // [T, dim]
}

void CausalDit::block_qkv(int64_t b, const Grid& g, DitActivations& a) const {
  const DitConfig& c = config_;
  const Block& k = blocks_[b];
  const Shape heads{g.tokens(), c.num_heads, c.head_dim()};

  // m = modulation + e0[frame]: shift1, scale1, gate1, shift2, scale2, gate2.
  ops::add_modulation(k.modulation, a.e0, a.mod);                 // [f, 6, dim]
  ops::layer_norm_modulate(a.x, a.mod, 0, 1, g.per_frame(), c.eps, a.h);  // [T, dim]
  linear_into(a.h, k.self_q, a.q);                                // [T, dim]
  linear_into(a.h, k.self_k, a.k);                                // [T, dim]
  linear_into(a.h, k.self_v, a.v);                                // [T, dim]
  // The cache keeps keys before and after RoPE; policies see both queries.
  ops::rms_norm_rope_3d(a.q.reshape(heads), k.self_norm_q, c.eps, g.start_frame, g.frames, g.rows, g.cols, a.q_raw,
                        a.q_rot);                                 // [T, H, d] each
  ops::rms_norm_rope_3d(a.k.reshape(heads), k.self_norm_k, c.eps, g.start_frame, g.frames, g.rows, g.cols, a.k_raw,
                        a.k_rot);                                 // [T, H, d] each
}

void CausalDit::block_rest(int64_t b, const Grid& g, const std::vector<ops::KVSegment>& kv, DitActivations& a,
                           const PixelFrameActions* pixel_actions) {
  const DitConfig& c = config_;
  const Block& k = blocks_[b];
  const int64_t T = g.tokens(), tpf = g.per_frame();
  const Shape flat{T, c.dim}, heads{T, c.num_heads, c.head_dim()};
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim()));

  // Self-attention over the cache.
  ops::attention(a.q_rot, kv, scale, a.attn, precision_);         // [T, H, d]
  linear_into(a.attn.reshape(flat), k.self_o, a.y);               // [T, dim]
  ops::gated_add(a.x, a.y, a.mod, 2, tpf);

  // Cross-attention to the prompt (k/v computed in set_prompt).
  ops::layer_norm(a.x, k.norm3_weight, k.norm3_bias, c.eps, a.h); // [T, dim]
  linear_into(a.h, k.cross_q, a.q);                               // [T, dim]
  ops::rms_norm(a.q, k.cross_norm_q, c.eps, a.q);
  const CrossKV& ckv = cross_kv_[b];
  const ops::KVSegment prompt{ckv.k.f32(), ckv.v.f32(), nullptr, ckv.k.dim(0)};
  ops::attention(a.q.reshape(heads), {prompt}, scale, a.attn, precision_);  // [T, H, d]
  linear_into(a.attn.reshape(flat), k.cross_o, a.y);              // [T, dim]
  ops::add(a.x, a.y);

  // MG2: the action module between the cross-attention and the FFN (§2.2).
  if (!action_modules_.empty() && action_modules_[b])
    action_modules_[b]->forward(a.x, g.start_frame, g.frames, tpf, pixel_actions->keyboard, pixel_actions->mouse,
                                action_caches_[b]);

  // Feed-forward.
  ops::layer_norm_modulate(a.x, a.mod, 3, 4, tpf, c.eps, a.h);    // [T, dim]
  linear_into(a.h, k.ffn_0, a.ffn);                               // [T, ffn]
  ops::gelu_tanh(a.ffn);
  linear_into(a.ffn, k.ffn_2, a.y);                               // [T, dim]
  ops::gated_add(a.x, a.y, a.mod, 5, tpf);
}

void CausalDit::head(const Grid& g, DitActivations& a) const {
  const DitConfig& c = config_;
  // Shift (row 0) and scale (row 1) from head.modulation + e.
  ops::add_modulation(head_modulation_, a.e, a.head_mod);         // [f, 2, dim]
  ops::layer_norm_modulate(a.x, a.head_mod, 0, 1, g.per_frame(), c.eps, a.h);  // [T, dim]
  linear_into(a.h, head_head_, a.out_tokens);                     // [T, ph*pw*out_dim]
  ops::unpatchify(a.out_tokens, g.frames, g.rows, g.cols, c.patch_h, c.patch_w, c.out_dim, a.out);  // [f, C_out, H, W]
}

Tensor CausalDit::forward(const Tensor& x, const std::vector<float>& t, int64_t start_frame, cache::KvAccess& cache,
                          bool cache_update, const Tensor& actions, const PixelFrameActions* pixel_actions) {
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
  const Grid g{start_frame, f, height / c.patch_h, width / c.patch_w};
  const int64_t T = g.tokens();
  cache.check_layout(c.num_layers, c.num_heads, c.head_dim(), g.rows, g.cols);

  if (actions.defined()) {
    if (c.action_dim == 0) throw Error("forward: actions given to a model without an action embedding");
    if (actions.shape() != Shape{f, c.action_dim})
      throw Error("forward: actions have shape " + shape_str(actions.shape()) + ", expected [" + std::to_string(f) +
                  ", " + std::to_string(c.action_dim) + "]");
  }

  if (!c.action_blocks.empty() && (!pixel_actions || !pixel_actions->keyboard.defined()))
    throw Error("forward: this Matrix-Game 2.0 model needs keyboard (and mouse) rows per pixel frame");

  DitActivations& a = workspace_.views(c, {f, height, width});
  upload_inputs(x, t, actions, a);

  // Device work in pieces between the cache's host bookkeeping; a piece's
  // signature is everything its launches depend on besides the weights.
  const std::vector<int64_t> base = {f, height, width, start_frame, prompt_generation_, workspace_.generation()};
  cache.begin_call(start_frame, f, cache_update);
  graphs_.run(0, base, [&] {
    embed(a);
    block_qkv(0, g, a);
  });
  for (int64_t b = 0; b < c.num_layers; ++b) {
    cache.write_call(b, a.k_raw.f32(), a.k_rot.f32(), a.v.f32(), T);
    cache.observe(b, a.q_raw.f32(), a.q_rot.f32(), T);
    const std::vector<ops::KVSegment> kv = cache.segments(b, a.k_rot.f32(), a.v.f32(), T);
    std::vector<int64_t> signature = base;
    for (const ops::KVSegment& s : kv)
      for (int64_t value : {reinterpret_cast<intptr_t>(s.k), reinterpret_cast<intptr_t>(s.v),
                            reinterpret_cast<intptr_t>(s.bias), static_cast<intptr_t>(s.len)})
        signature.push_back(value);
    graphs_.run(static_cast<int>(b + 1), signature, [&] {
      block_rest(b, g, kv, a, pixel_actions);
      if (nonfinite_block_ < 0 && a.x.backend() == Backend::CPU && !a.x.all_finite()) nonfinite_block_ = b;
      if (b + 1 < c.num_layers) block_qkv(b + 1, g, a);
      else head(g, a);
    });
  }
  cache.end_call();

  // The workspace is overwritten by the next call: hand out a copy.
  Tensor out = ops::empty(a.out.shape(), x.backend());            // [f, C_out, H, W]
  ops::copy(a.out, out);
  return out;
}

}  // namespace wl
