// An independent, plain, slow float64 implementation of one forward call of the
// causal Wan DiT with the reference KV cache, written from docs/model.md §1-§3 alone
// (it shares no code with runtime/model or cache/). Tests compare the engine
// against it on configurations the golden fixtures do not cover.
//
// Everything is double: weights are converted once, every activation, norm,
// RoPE angle and softmax is computed in double with the most direct loops.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace wl {
class SafetensorsFile;
}

namespace wl::testref {

struct RefConfig {
  int64_t in_dim = 0;
  int64_t out_dim = 0;
  int64_t dim = 0;
  int64_t ffn_dim = 0;
  int64_t freq_dim = 0;
  int64_t text_dim = 0;
  int64_t text_len = 0;
  int64_t num_heads = 0;
  int64_t num_layers = 0;
  int64_t patch_h = 1;
  int64_t patch_w = 1;
  double eps = 1e-6;
  int64_t local_attn_size = -1;  // from metadata; -1 when absent
};

struct RefTensor {
  std::vector<int64_t> shape;
  std::vector<double> data;
};
using RefWeights = std::map<std::string, RefTensor>;

// Reads every tensor whose name starts with `prefix` (the prefix is dropped)
// from a safetensors file, converted to double. Picking the prefix is the
// caller's job, so this does not depend on the engine's name stripping.
RefWeights read_ref_weights(const SafetensorsFile& file, const std::string& prefix = "");

// The configuration: `__metadata__.config` JSON when present (Wan key names),
// else derived from the shapes with num_heads = dim / 128. text_len defaults
// to 512 without metadata.
RefConfig ref_config(const SafetensorsFile& file, const RefWeights& weights);

// max_attention_tokens of the reference: local_attn_size * tokens per frame
// when the checkpoint has a local window, else 32760.
int64_t ref_max_attention_tokens(const RefConfig& config, int64_t height, int64_t width);

class RefDit {
 public:
  // Checks every tensor's presence and shape against `config` (throws
  // std::runtime_error naming the tensor).
  RefDit(const RefConfig& config, RefWeights weights);

  const RefConfig& config() const { return config_; }

  // The reference cache: `capacity_frames` frames of which the first
  // `sink_frames` ever cached stay; attention reads at most
  // `max_attention_tokens` newest tokens (<= 0: all). Clears the cache.
  void reset_cache(int64_t capacity_frames, int64_t sink_frames, int64_t max_attention_tokens);

  // context [rows, text_dim] row-major, rows <= text_len; zero-padded.
  void set_prompt(const std::vector<double>& context, int64_t rows);

  // x [f, in_dim, H, W], t [f]; returns the flow [f, out_dim, H, W].
  std::vector<double> forward(const std::vector<double>& x, int64_t frames, int64_t height, int64_t width,
                              const std::vector<double>& t, int64_t start_frame);

  // Frames currently cached, oldest first.
  std::vector<int64_t> cached_frames() const;

 private:
  struct CachedFrame {
    int64_t frame = 0;
    std::vector<std::vector<double>> k, v;  // per block: [tokens_per_frame, dim], keys after RoPE
  };

  const std::vector<double>& w(const std::string& name) const;

  RefConfig config_;
  RefWeights weights_;
  int64_t capacity_ = 0, sink_ = 0, max_tokens_ = 0;
  std::vector<CachedFrame> cache_;
  std::vector<std::vector<double>> cross_k_, cross_v_;  // per block [text_len, dim]
};

// ||a - b|| / ||b||.
double rel_l2(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace wl::testref
