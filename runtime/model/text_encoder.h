// The embedded worlds' prompt encoder (tools/train/WORLD_FORMAT.md): a
// sentencepiece tokenizer and a small pre-LayerNorm transformer whose output
// [n, text_dim] is the DiT's prompt context.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace wl {

class Tokenizer {
 public:
  // Loads a sentencepiece model; throws wl::Error naming the file.
  explicit Tokenizer(const std::string& path);
  ~Tokenizer();
  std::vector<int> encode(const std::string& text) const;
  int vocab_size() const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string path_;
};

class TextEncoder {
 public:
  explicit TextEncoder(const WeightMap& weights);
  int64_t width() const { return dim_; }
  int64_t max_len() const { return max_len_; }
  // Token ids (truncated to max_len) -> [n, width]. An empty prompt gives one row of zeros.
  Tensor encode(const std::vector<int>& ids) const;

 private:
  struct Block {
    Tensor norm1_weight, norm1_bias, norm2_weight, norm2_bias;  // [D]
    ops::LinearWeight qkv, o, ffn_0, ffn_2;
  };
  int64_t dim_ = 0, heads_ = 0, max_len_ = 0, vocab_ = 0;
  float eps_ = 1e-5f;
  Tensor token_embedding_;  // [V, D]
  Tensor pos_embedding_;    // [L, D]
  Tensor norm_weight_, norm_bias_;
  std::vector<Block> blocks_;
  std::string path_;
};

}  // namespace wl
