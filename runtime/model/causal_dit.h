// The causal Wan diffusion transformer (docs/model.md §1-§3): one forward call maps
// latents of f consecutive frames, their timesteps and the prompt context to a
// flow prediction, reading and writing the KV cache.
//
// The model lives on one backend (DitOptions::backend): its weights are
// uploaded once, its activations sit in a workspace there, and its KV cache
// (cache_config) keeps keys and values there. On CUDA the device work of
// repeated calls is replayed as CUDA graphs (cuda_graph_runner.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/kv_store.h"
#include "runtime/model/cuda_graph_runner.h"
#include "runtime/model/dit_config.h"
#include "runtime/model/dit_workspace.h"
#include "runtime/model/mg2_action_module.h"
#include "runtime/core/ops.h"
#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"

namespace wl {

struct DitOptions {
  ops::MatmulPrecision precision = ops::best_matmul_precision();
  // Where weights, activations and the KV cache live.
  Backend backend = Backend::CPU;
  // CUDA: record the device work of repeated calls as CUDA graphs and replay
  // it (the environment variable WORLDLOOP_CUDA_GRAPHS=0 turns this off).
  bool cuda_graphs = true;
  // A separate model config (the text of MG2's config.json) in place of the
  // checkpoint's __metadata__.config, and its name for errors.
  std::string model_config, model_config_label;
  // --max-memory in bytes (0: no limit but the machine's): the memory plan of
  // the model and its KV cache must fit it (runtime/model/memory_plan.h).
  int64_t max_memory_bytes = 0;
};

// The KV store configuration for a model of config `c` (see CausalDit::cache_config).
cache::KvStoreConfig dit_cache_config(const DitConfig& c, int64_t height, int64_t width, int64_t capacity_frames,
                                      int64_t sink_frames, Backend backend);

// Matrix-Game 2.0's per-pixel-frame actions for one call (mg2_windows.h):
// keyboard [N, K] and mouse [N, 2] (undefined without a mouse branch), rows
// 0..N-1 from the video's first pixel frame, N >= rows_for_call.
struct PixelFrameActions {
  Tensor keyboard, mouse;
};

class CausalDit {
 public:
  // Loads and validates every tensor (names as in the checkpoint) and puts
  // it on the model's backend; throws wl::Error naming the file, the tensor
  // and the problem.
  CausalDit(const WeightMap& weights, const DitOptions& options = {});

  const DitConfig& config() const { return config_; }
  ops::MatmulPrecision precision() const { return precision_; }
  Backend backend() const { return backend_; }
  // What the CUDA graph runner did so far (all eager on the CPU).
  const CudaGraphRunner::Stats& graph_stats() const { return graphs_.stats(); }

  // A KV store for latents of height x width with a budget of
  // `capacity_frames` frames of which the first `sink_frames` stay, on the
  // model's backend; the attention window follows the reference (32760 tokens
  // when the checkpoint has no local window).
  cache::KvStoreConfig cache_config(int64_t height, int64_t width, int64_t capacity_frames,
                                    int64_t sink_frames) const;

  // Sets the prompt: context [L, text_dim] (any backend) with L <= text_len,
  // zero-padded to text_len rows; the cross-attention keys and values are
  // computed here, once, on the model's backend. An image-context model
  // (MG2) takes its CLIP tokens [L, image_dim] here instead, unpadded,
  // through img_emb.
  void set_prompt(const Tensor& context);
  bool has_prompt() const { return !cross_kv_.empty(); }

  // x [f, in_dim, H, W] (any backend) for frames [start_frame, start_frame + f),
  // timesteps t [f]; returns the flow prediction [f, out_dim, H, W] on x's
  // backend. `cache_update` marks the clean pass that leaves a chunk's final
  // keys in the cache (the policies learn from those queries). Models with an
  // action embedding take `actions` [f, action_dim] (undefined: no keys pressed).
  // MG2 models (config().action_blocks) take `pixel_actions` instead, and x
  // holds all in_dim = 36 channels: the noisy latents, then cond_concat.
  Tensor forward(const Tensor& x, const std::vector<float>& t, int64_t start_frame, cache::KvAccess& cache,
                 bool cache_update = false, const Tensor& actions = Tensor(),
                 const PixelFrameActions* pixel_actions = nullptr);
  // Forgets the action modules' key/value windows (a new video).
  void reset_action_caches();

  // On the CPU, forward() checks the residual stream after every block (one
  // pass over [T, dim]); this is the first block whose output held a NaN or
  // Inf since clear_nonfinite_block(), or -1. On CUDA it stays -1: a check per
  // block would synchronise the device, so there the chunk's latents alone are
  // checked (WorldSession).
  int64_t nonfinite_block() const { return nonfinite_block_; }
  void clear_nonfinite_block() { nonfinite_block_ = -1; }

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
  // One call's token grid.
  struct Grid {
    int64_t start_frame, frames, rows, cols;
    int64_t tokens() const { return frames * rows * cols; }
    int64_t per_frame() const { return rows * cols; }
  };

  // MG2: img_emb of CLIP tokens [L, image_dim] -> [L, dim] on the model's backend.
  Tensor image_embedding(const Tensor& tokens) const;
  // The cross-attention keys and values of every block from ctx [L, dim].
  void set_cross_kv(const Tensor& ctx);
  // Host-side inputs into the workspace: latents, the time sinusoid, actions.
  void upload_inputs(const Tensor& x, const std::vector<float>& t, const Tensor& actions, DitActivations& a) const;
  // Device work, in launch order: embeddings and the patch embedding; the
  // self-attention inputs of block b (q, k, v with RMS norm and RoPE); the
  // rest of block b from its attention over `kv`; the head.
  void embed(DitActivations& a) const;
  void block_qkv(int64_t b, const Grid& g, DitActivations& a) const;
  void block_rest(int64_t b, const Grid& g, const std::vector<ops::KVSegment>& kv, DitActivations& a,
                  const PixelFrameActions* pixel_actions);
  void head(const Grid& g, DitActivations& a) const;

  DitConfig config_;
  ops::MatmulPrecision precision_;
  Backend backend_;
  std::string path_;
  ops::LinearWeight patch_embedding_;
  ops::LinearWeight time_embedding_0_, time_embedding_2_, time_projection_1_;
  ops::LinearWeight text_embedding_0_, text_embedding_2_;
  ops::LinearWeight action_embedding_0_, action_embedding_2_;  // only when config_.action_dim > 0
  // MG2 only (config_.image_dim > 0): img_emb.proj.{0,4} LayerNorms, .1 and .3 linears.
  Tensor img_emb_0_weight_, img_emb_0_bias_, img_emb_4_weight_, img_emb_4_bias_;
  ops::LinearWeight img_emb_1_, img_emb_3_;
  // MG2 only: the action module of each action block (null elsewhere) and its windows.
  std::vector<std::unique_ptr<Mg2ActionModule>> action_modules_;
  std::vector<Mg2ActionCache> action_caches_;
  Tensor head_modulation_;  // [2, dim]
  ops::LinearWeight head_head_;
  std::vector<Block> blocks_;
  std::vector<CrossKV> cross_kv_;
  int64_t nonfinite_block_ = -1;
  int64_t prompt_generation_ = 0;  // changes with every set_prompt (graphs hold cross_kv_ pointers)
  DitWorkspace workspace_;
  CudaGraphRunner graphs_;
};

}  // namespace wl
