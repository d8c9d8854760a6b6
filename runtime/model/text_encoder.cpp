#include "runtime/model/text_encoder.h"

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include "runtime/core/error.h"
#include "runtime/core/input_file.h"

namespace wl {

Tokenizer::Tokenizer(const std::string& path) : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()),
                                                path_(path) {
  const uint64_t size = require_regular_file(path, "the tokenizer");
  if (size > InputLimits::kTokenizerBytes)
    throw Error(path + ": the tokenizer is " + std::to_string(size) + " bytes, more than the " +
                std::to_string(InputLimits::kTokenizerBytes) + "-byte limit for a SentencePiece model");
  const auto status = sp_->Load(path);
  if (!status.ok()) throw Error(path + ": not a SentencePiece model (sentencepiece: " + status.ToString() + ")");
}

Tokenizer::~Tokenizer() = default;

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) throw Error(path_ + ": cannot tokenize the prompt: " + status.ToString());
  return ids;
}

int Tokenizer::vocab_size() const { return sp_->GetPieceSize(); }

TextEncoder::TextEncoder(const WeightMap& w) : path_(w.path()) {
  const TensorInfo& emb = w.info("token_embedding.weight");
  if (emb.shape.size() != 2) throw Error(path_ + ": tensor 'token_embedding.weight' is not [vocab, dim]");
  vocab_ = emb.shape[0];
  dim_ = emb.shape[1];
  const TensorInfo& pos = w.info("pos_embedding");
  if (pos.shape.size() != 2 || pos.shape[1] != dim_)
    throw Error(path_ + ": tensor 'pos_embedding' has shape " + shape_str(pos.shape) + ", expected [max_len, " +
                std::to_string(dim_) + "]");
  max_len_ = pos.shape[0];

  int64_t layers = 0;
  while (w.has("blocks." + std::to_string(layers) + ".attn.qkv.weight")) ++layers;
  heads_ = 1;
  if (auto it = w.metadata().find("config"); it != w.metadata().end()) {
    try {
      const auto j = nlohmann::json::parse(it->second);
      heads_ = j.value("num_heads", int64_t{1});
      eps_ = j.value("eps", 1e-5f);
      if (j.contains("num_layers") && j["num_layers"].get<int64_t>() != layers)
        throw Error(path_ + ": __metadata__.config.num_layers disagrees with the blocks present (" +
                    std::to_string(layers) + ")");
    } catch (const nlohmann::json::exception& e) {
      throw Error(path_ + ": __metadata__.config: " + e.what());
    }
  }
  if (heads_ <= 0 || dim_ % heads_)
    throw Error(path_ + ": cannot split width " + std::to_string(dim_) + " into " + std::to_string(heads_) + " heads");

  const auto p = ops::MatmulPrecision::F32;  // tiny: exactness beats speed here
  auto lin = [&](const std::string& name, int64_t out, int64_t in) {
    return ops::prepare_linear(w.get(name + ".weight", {out, in}), w.get(name + ".bias", {out}), p);
  };
  token_embedding_ = w.get("token_embedding.weight").to(DType::F32);
  pos_embedding_ = w.get("pos_embedding").to(DType::F32);
  norm_weight_ = w.get("norm.weight", {dim_}).to(DType::F32);
  norm_bias_ = w.get("norm.bias", {dim_}).to(DType::F32);
  for (int64_t i = 0; i < layers; ++i) {
    const std::string pre = "blocks." + std::to_string(i) + ".";
    Block b;
    b.norm1_weight = w.get(pre + "norm1.weight", {dim_}).to(DType::F32);
    b.norm1_bias = w.get(pre + "norm1.bias", {dim_}).to(DType::F32);
    b.norm2_weight = w.get(pre + "norm2.weight", {dim_}).to(DType::F32);
    b.norm2_bias = w.get(pre + "norm2.bias", {dim_}).to(DType::F32);
    b.qkv = lin(pre + "attn.qkv", 3 * dim_, dim_);
    b.o = lin(pre + "attn.o", dim_, dim_);
    const int64_t ffn = w.info(pre + "ffn.0.weight").shape.at(0);
    b.ffn_0 = lin(pre + "ffn.0", ffn, dim_);
    b.ffn_2 = lin(pre + "ffn.2", dim_, ffn);
    blocks_.push_back(std::move(b));
  }
}

Tensor TextEncoder::encode(const std::vector<int>& ids_in) const {
  std::vector<int> ids(ids_in.begin(), ids_in.begin() + std::min<size_t>(ids_in.size(), max_len_));
  if (ids.empty()) return Tensor::zeros({1, dim_});
  const int64_t n = static_cast<int64_t>(ids.size()), D = dim_, H = heads_, d = D / H;
  Tensor x = Tensor::empty({n, D});                                   // [n, D]
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_)
      throw Error(path_ + ": token id " + std::to_string(ids[i]) + " outside the vocabulary of " +
                  std::to_string(vocab_));
    for (int64_t j = 0; j < D; ++j)
      x.f32()[i * D + j] = token_embedding_.f32()[ids[i] * D + j] + pos_embedding_.f32()[i * D + j];
  }
  Tensor h = Tensor::empty({n, D});                                   // [n, D]
  Tensor qkv = Tensor::empty({n, 3 * D});                             // [n, 3D]
  Tensor q = Tensor::empty({n, H, d}), k = Tensor::empty({n, H, d}), v = Tensor::empty({n, H, d});
  Tensor attn = Tensor::empty({n, H, d});                             // [n, H, d]
  Tensor y = Tensor::empty({n, D});                                   // [n, D]
  for (const Block& b : blocks_) {
    ops::layer_norm(x, b.norm1_weight, b.norm1_bias, eps_, h);
    ops::linear(h, b.qkv, qkv);
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(q.f32() + i * D, qkv.f32() + i * 3 * D, D * sizeof(float));
      std::memcpy(k.f32() + i * D, qkv.f32() + i * 3 * D + D, D * sizeof(float));
      std::memcpy(v.f32() + i * D, qkv.f32() + i * 3 * D + 2 * D, D * sizeof(float));
    }
    ops::attention(q, {ops::KVSegment{k.f32(), v.f32(), nullptr, n}}, 1.0f / std::sqrt(static_cast<float>(d)), attn);
    ops::linear(attn.reshape({n, D}), b.o, y);
    ops::add(x, y);
    ops::layer_norm(x, b.norm2_weight, b.norm2_bias, eps_, h);
    Tensor f = Tensor::empty({n, b.ffn_0.out_features()});            // [n, ffn]
    ops::linear(h, b.ffn_0, f);
    ops::gelu_tanh(f);
    ops::linear(f, b.ffn_2, y);
    ops::add(x, y);
  }
  Tensor out = Tensor::empty({n, D});                                 // [n, D]
  ops::layer_norm(x, norm_weight_, norm_bias_, eps_, out);
  return out;
}

}  // namespace wl
