// The activations of one forward call of the causal DiT, allocated once on
// the model's backend for the largest call seen and handed out as views
// shaped for each call. Fixed buffers are what lets a call's device work be
// recorded as a CUDA graph and replayed (no allocation inside a forward), and
// the same layout tells the memory planner what a call needs.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "runtime/model/dit_config.h"
#include "runtime/core/tensor.h"

namespace wl {

// The size of one forward call: frames of height x width latents.
struct DitCallShape {
  int64_t frames = 0;
  int64_t height = 0, width = 0;
};

// Views for one call (T tokens, f frames); every tensor F32.
struct DitActivations {
  Tensor x_in;        // [f, in_dim, H, W]     latents
  Tensor emb;         // [f, freq_dim]         sinusoidal time embedding
  Tensor actions;     // [f, action_dim]       (action models only)
  Tensor t_hidden;    // [f, dim]              SiLU(time_embedding.0(emb))
  Tensor a_hidden;    // [f, dim]              SiLU(action_embedding.0(actions)) (action models only)
  Tensor a_emb;       // [f, dim]              action_embedding.2(a_hidden) (action models only)
  Tensor e;           // [f, dim]              time (+ action) embedding
  Tensor e_silu;      // [f, dim]              SiLU(e)
  Tensor e0;          // [f, 6, dim]           time_projection.1(e_silu)
  Tensor mod;         // [f, 6, dim]           a block's modulation + e0
  Tensor head_mod;    // [f, 2, dim]           head.modulation + e
  Tensor patches;     // [T, in_dim*ph*pw]
  Tensor x;           // [T, dim]              residual stream
  Tensor h;           // [T, dim]              normalised / modulated input of a sub-layer
  Tensor q, k, v;     // [T, dim]              projections (q, k before their RMS norm)
  Tensor q_raw, q_rot;  // [T, heads, head_dim] normed query before / after RoPE
  Tensor k_raw, k_rot;  // [T, heads, head_dim] normed key before / after RoPE
  Tensor attn;        // [T, heads, head_dim]  attention output
  Tensor y;           // [T, dim]              a sub-layer's output
  Tensor ffn;         // [T, ffn_dim]
  Tensor out_tokens;  // [T, ph*pw*out_dim]
  Tensor out;         // [f, out_dim, H, W]    flow prediction
};

// Every buffer of a call and its shape (the action buffers only when the model
// has an action embedding), in a fixed order.
std::vector<std::pair<Tensor DitActivations::*, Shape>> activation_layout(const DitConfig& config,
                                                                          const DitCallShape& call);
// Bytes of all the buffers of a call.
int64_t activation_bytes(const DitConfig& config, const DitCallShape& call);

class DitWorkspace {
 public:
  explicit DitWorkspace(Backend backend) : backend_(backend) {}

  // Views for `call`; a buffer too small for it is reallocated (its contents
  // are not kept), which changes generation().
  DitActivations& views(const DitConfig& config, const DitCallShape& call);
  // Changes whenever a buffer moves (recorded graphs hold its pointers).
  int64_t generation() const { return generation_; }

 private:
  Backend backend_;
  std::vector<Tensor> storage_;  // one flat buffer per layout entry, at least as large as any call's
  DitActivations views_;
  int64_t generation_ = 0;
};

}  // namespace wl
