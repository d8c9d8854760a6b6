// umT5's encoder as Wan uses it (umt5_xxl(encoder_only=True) of wan/modules/
// t5.py; docs/model.md "umT5 text encoder"; spec: shared/specs/
// text_action_checkpoints.md 1.2): token embedding without scaling, pre-norm
// blocks of T5 RMS norm, attention without 1/sqrt(d) scaling plus each layer's
// own relative-position bucket bias (bidirectional), padded keys masked, a
// gated GELU-tanh FFN, and a final RMS norm. Every width comes from the
// weights; nothing is specific to the XXL size. Built from ops only, so it
// runs on the backend its tensors live on.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"

namespace wl {

struct Umt5Config {
  int64_t vocab = 0, dim = 0, dim_attn = 0, dim_ffn = 0, layers = 0;
  int64_t heads = 0;            // from pos_embedding's [buckets, heads]; checked against config.num_heads
  int64_t buckets = 32;         // relative-position buckets (both directions together)
  int64_t max_distance = 128;   // config.max_dist
  float eps = 1e-6f;            // RMS norm
  int64_t text_len = 512;       // config.text_len: the padded length the DiT receives
  int64_t head_dim() const { return heads ? dim_attn / heads : 0; }
};

// The configuration of the umT5 weights in `w`: widths, layers and heads from
// the tensors' shapes, max_dist, eps and text_len from __metadata__.config
// (a JSON object; defaults 128, 1e-6, 512 without it). Throws wl::Error
// naming the file on a missing tensor, a shape that disagrees or a config
// value that disagrees with the tensors.
Umt5Config umt5_config(const WeightMap& w);

// T5's bidirectional relative-position bucket of r = key - query position:
// half the buckets per direction (+half when the key is after the query); of
// those, |r| below a quarter of the buckets is its own bucket, larger |r|
// fall in log-spaced buckets up to max_distance and the last bucket past it.
int64_t umt5_bucket(int64_t r, int64_t buckets, int64_t max_distance);

// Weight and activation bytes of an encoder of configuration `c` whose
// matrices are stored at `precision` (the embedding as the checkpoint holds
// it: `embedding_bytes_per_value`, 2 for bf16), for one prompt of text_len
// tokens. For the memory planner.
struct Umt5Bytes {
  int64_t weights = 0;
  int64_t activations = 0;
  int64_t total() const { return weights + activations; }
};
Umt5Bytes umt5_memory_bytes(const Umt5Config& c, ops::MatmulPrecision precision, int64_t embedding_bytes_per_value = 2);

class Umt5Encoder {
 public:
  // Reads and checks every tensor of `w`; the matrices are prepared for
  // `precision` on backend `on`. The token embedding stays where `w` holds
  // it (rows are gathered on the host), so keep `w` alive as long as the encoder.
  Umt5Encoder(const WeightMap& w, ops::MatmulPrecision precision, Backend on = Backend::CPU);

  const Umt5Config& config() const { return cfg_; }
  ops::MatmulPrecision precision() const { return precision_; }
  Backend backend() const { return backend_; }
  const std::string& path() const { return path_; }
  // A 64-bit hash of the configuration and a few tensors' bytes (norms,
  // position tables, embedding rows, slices of every q), for cache keys.
  uint64_t weights_hash() const { return weights_hash_; }

  struct Output {
    Tensor context;                  // [L, dim] on the backend: encoder output, rows >= seq_len zeroed
    Tensor encoder_out;              // [L, dim] every row (only with Options::full)
    std::vector<Tensor> block_outs;  // per layer, x after the layer [L, dim] on the CPU (only with taps)
    int64_t seq_len = 0;
  };
  struct Options {
    bool full = false;  // compute every row (padded queries too) and return encoder_out
    bool taps = false;  // keep each block's output (implies full)
  };
  // ids [L] in [0, vocab), mask [L] (1 real, 0 padding; seq_len = its count).
  // Without full, a mask of seq_len leading ones runs only those rows: the
  // padded rows are zeroed anyway and, being masked keys, change nothing else.
  Output encode(const std::vector<int32_t>& ids, const std::vector<float>& mask, const Options& opt) const;
  // The context alone (Options{}).
  Tensor encode(const std::vector<int32_t>& ids, const std::vector<float>& mask) const;

 private:
  struct Block {
    Tensor norm1;                            // blocks.n.norm1.weight [dim]
    ops::LinearWeight q, k, v;               // blocks.n.attn.{q,k,v}.weight [dim_attn, dim]
    ops::LinearWeight o;                     // blocks.n.attn.o.weight [dim, dim_attn]
    Tensor norm2;                            // blocks.n.norm2.weight [dim]
    ops::LinearWeight gate;                  // blocks.n.ffn.gate.0.weight [dim_ffn, dim] (GELU branch)
    ops::LinearWeight fc1;                   // blocks.n.ffn.fc1.weight [dim_ffn, dim] (linear branch)
    ops::LinearWeight fc2;                   // blocks.n.ffn.fc2.weight [dim, dim_ffn]
    std::vector<float> pos;                  // blocks.n.pos_embedding.embedding.weight [buckets, heads] (host)
  };
  Tensor run_rows(const std::vector<int32_t>& ids, const std::vector<float>& mask, int64_t L,
                  std::vector<Tensor>* taps) const;

  Umt5Config cfg_;
  ops::MatmulPrecision precision_;
  Backend backend_;
  std::string path_;
  Tensor token_embedding_;  // token_embedding.weight [vocab, dim] (CPU, as stored: F32/BF16/F16)
  std::vector<Block> blocks_;
  Tensor norm_;             // norm.weight [dim]
  uint64_t weights_hash_ = 0;
};

}  // namespace wl
