// The causal Wan diffusion transformer (DESIGN 2.1-2.3): one forward call maps
// latents of f consecutive frames, their timesteps and the prompt context to a
// flow prediction, reading and writing the KV cache.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cache/kv_store.h"
#include "runtime/model/dit_config.h"
#include "runtime/ops.h"
#include "runtime/safetensors.h"
#include "runtime/tensor.h"

namespace wl {

struct DitOptions {
  ops::MatmulPrecision precision = ops::best_matmul_precision();
  Backend backend = Backend::CPU;
};

class CausalDit {
 public:
  // Loads and validates every tensor (names as in the checkpoint); throws
  // wl::Error naming the file, the tensor and the problem.
  CausalDit(const WeightMap& weights, const DitOptions& options = {});

  const DitConfig& config() const { return config_; }
  ops::MatmulPrecision precision() const { return precision_; }

  // A KV store for latents of height x width with a budget of
  // `capacity_frames` frames of which the first `sink_frames` stay; the
  // attention window follows the reference (32760 tokens when the checkpoint
  // has no local window).
  cache::KvStoreConfig cache_config(int64_t height, int64_t width, int64_t capacity_frames,
                                    int64_t sink_frames) const;

  // Sets the prompt: context [L, text_dim] with L <= text_len, zero-padded to
  // text_len rows; the cross-attention keys and values are computed here, once.
  void set_prompt(const Tensor& context);
  bool has_prompt() const { return !cross_kv_.empty(); }

  // x [f, in_dim, H, W] for frames [start_frame, start_frame + f), timesteps
  // t [f]; returns the flow prediction [f, out_dim, H, W]. `cache_update`
  // marks the clean pass that leaves a chunk's final keys in the cache (the
  // policies learn from those queries). Models with an action embedding take
  // `actions` [f, action_dim] (undefined: no keys pressed).
  Tensor forward(const Tensor& x, const std::vector<float>& t, int64_t start_frame, cache::KvAccess& cache,
                 bool cache_update = false, const Tensor& actions = Tensor());

 private:
  struct Block {
    Tensor modulation;  // [6, dim] f32
    ops::LinearWeight self_q, self_k, self_v, self_o;
    Tensor self_norm_q, self_norm_k;  // [dim]
    Tensor norm3_weight, norm3_bias;  // [dim]
    ops::LinearWeight cross_q, cross_k, cross_v, cross_o;
    Tensor cross_norm_q, cross_norm_k;  // [dim]
    ops::LinearWeight ffn_0, ffn_2;
  };
  struct CrossKV {
    Tensor k, v;  // [text_len, heads, head_dim]
  };

  // Per-frame time embeddings: e [f, dim] and e0 [f, 6, dim].
  void embed_time(const std::vector<float>& t, const Tensor& actions, Tensor& e, Tensor& e0) const;
  void run_block(int64_t b, Tensor& x, const Tensor& e0, int64_t start_frame, int64_t frames, int64_t rows,
                 int64_t cols, cache::KvAccess& cache) const;

  DitConfig config_;
  ops::MatmulPrecision precision_;
  std::string path_;
  ops::LinearWeight patch_embedding_;
  ops::LinearWeight time_embedding_0_, time_embedding_2_, time_projection_1_;
  ops::LinearWeight text_embedding_0_, text_embedding_2_;
  ops::LinearWeight action_embedding_0_, action_embedding_2_;  // only when config_.action_dim > 0
  Tensor head_modulation_;  // [2, dim]
  ops::LinearWeight head_head_;
  std::vector<Block> blocks_;
  std::vector<CrossKV> cross_kv_;
};

}  // namespace wl
