#include "runtime/model/umt5.h"

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"

namespace wl {
namespace {

std::string block_name(int64_t n, const char* rest) { return "blocks." + std::to_string(n) + "." + rest; }

const TensorInfo& info_rank(const WeightMap& w, const std::string& name, size_t rank, const char* what) {
  if (!w.has(name)) throw Error(w.path() + ": missing tensor '" + name + "' (umT5 encoder)");
  const TensorInfo& i = w.info(name);
  if (i.shape.size() != rank)
    throw Error(w.path() + ": tensor '" + name + "' has shape " + shape_str(i.shape) + ", expected " + what);
  for (int64_t d : i.shape)
    if (d <= 0) throw Error(w.path() + ": tensor '" + name + "' has an empty shape " + shape_str(i.shape));
  return i;
}

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t hash_tensor(uint64_t h, const Tensor& t, size_t max_bytes) {
  const size_t n = std::min(t.nbytes(), max_bytes);
  h = fnv1a(h, &n, sizeof n);
  return fnv1a(h, t.raw(), n);
}

// One row of a CPU tensor [rows, D] of any float dtype, as floats.
void row_to_f32(const Tensor& t, int64_t row, float* out) {
  const int64_t D = t.dim(1);
  switch (t.dtype()) {
    case DType::F32: std::memcpy(out, t.f32() + row * D, static_cast<size_t>(D) * sizeof(float)); return;
    case DType::BF16: {
      const uint16_t* p = t.data<uint16_t>() + row * D;
      for (int64_t j = 0; j < D; ++j) out[j] = bf16_to_f32(p[j]);
      return;
    }
    case DType::F16: {
      const uint16_t* p = t.data<uint16_t>() + row * D;
      for (int64_t j = 0; j < D; ++j) out[j] = f16_to_f32(p[j]);
      return;
    }
    case DType::U8: throw Error("UMT5 embedding: U8 is not a weight dtype");
  }
}

}  // namespace

int64_t umt5_bucket(int64_t r, int64_t buckets, int64_t max_distance) {
  const int64_t half = buckets / 2;  // per direction
  const int64_t base = r > 0 ? half : 0;
  const int64_t n = r < 0 ? -r : r;
  const int64_t max_exact = half / 2;
  if (n < max_exact) return base + n;
  // floor of the exact log ratio; the 1e-9 keeps the boundaries (n = 16, 32,
  // 64 for umT5, where the real value is an integer) on the right side of
  // double rounding. The reference's float32 evaluation agrees for |r| <= 511.
  const double v = std::log(static_cast<double>(n) / static_cast<double>(max_exact)) /
                   std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact)) *
                   static_cast<double>(half - max_exact);
  const int64_t large = max_exact + static_cast<int64_t>(std::floor(v + 1e-9));
  return base + std::min(large, half - 1);
}

Umt5Config umt5_config(const WeightMap& w) {
  Umt5Config c;
  const std::string& path = w.path();
  const TensorInfo& emb = info_rank(w, "token_embedding.weight", 2, "[vocab, dim]");
  c.vocab = emb.shape[0];
  c.dim = emb.shape[1];
  while (w.has(block_name(c.layers, "norm1.weight"))) ++c.layers;
  if (c.layers == 0) throw Error(path + ": missing tensor 'blocks.0.norm1.weight' (umT5 encoder: no blocks)");
  c.dim_attn = info_rank(w, block_name(0, "attn.q.weight"), 2, "[dim_attn, dim]").shape[0];
  c.dim_ffn = info_rank(w, block_name(0, "ffn.fc1.weight"), 2, "[dim_ffn, dim]").shape[0];
  const TensorInfo& pos = info_rank(w, block_name(0, "pos_embedding.embedding.weight"), 2, "[buckets, heads]");
  c.buckets = pos.shape[0];
  c.heads = pos.shape[1];
  if (w.has("pos_embedding.embedding.weight"))
    throw Error(path + ": has an encoder-level 'pos_embedding.embedding.weight' (shared_pos): umT5 as Wan uses it has "
                       "one table per layer");

  if (auto it = w.metadata().find("config"); it != w.metadata().end()) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& e) {
      throw Error(path + ": __metadata__.config is not JSON: " + e.what());
    }
    if (!j.is_object()) throw Error(path + ": __metadata__.config is not a JSON object");
    auto integer = [&](const char* key, int64_t have, bool must_match) {
      if (!j.contains(key)) return have;
      if (!j[key].is_number_integer()) throw Error(path + ": __metadata__.config." + key + " is not an integer");
      const int64_t v = j[key].get<int64_t>();
      if (must_match && v != have)
        throw Error(path + ": __metadata__.config." + key + " = " + std::to_string(v) + " but the tensors say " +
                    std::to_string(have));
      return v;
    };
    integer("vocab", c.vocab, true);
    integer("dim", c.dim, true);
    integer("dim_attn", c.dim_attn, true);
    integer("dim_ffn", c.dim_ffn, true);
    integer("num_heads", c.heads, true);
    integer("num_layers", c.layers, true);
    integer("num_buckets", c.buckets, true);
    c.max_distance = integer("max_dist", c.max_distance, false);
    c.text_len = integer("text_len", c.text_len, false);
    if (j.contains("eps")) {
      if (!j["eps"].is_number()) throw Error(path + ": __metadata__.config.eps is not a number");
      c.eps = j["eps"].get<float>();
    }
    if (j.contains("shared_pos") && j["shared_pos"].is_boolean() && j["shared_pos"].get<bool>())
      throw Error(path + ": __metadata__.config.shared_pos is true: umT5 as Wan uses it has one table per layer");
  }
  if (c.heads <= 0 || c.dim_attn % c.heads)
    throw Error(path + ": dim_attn " + std::to_string(c.dim_attn) + " does not split into " + std::to_string(c.heads) +
                " heads (from pos_embedding's [buckets, heads])");
  if (c.buckets < 4 || c.buckets % 2)
    throw Error(path + ": " + std::to_string(c.buckets) + " relative-position buckets: expected an even number >= 4");
  if (c.max_distance <= c.buckets / 4)
    throw Error(path + ": max_dist " + std::to_string(c.max_distance) + " must exceed a quarter of the buckets");
  if (c.text_len < 1) throw Error(path + ": text_len " + std::to_string(c.text_len) + " must be positive");
  return c;
}

Umt5Bytes umt5_memory_bytes(const Umt5Config& c, ops::MatmulPrecision precision, int64_t embedding_bytes_per_value) {
  const int64_t m = precision == ops::MatmulPrecision::BF16 ? 2 : 4;
  Umt5Bytes b;
  const int64_t per_layer_matrix = 3 * c.dim_attn * c.dim + c.dim * c.dim_attn + 3 * c.dim_ffn * c.dim;
  const int64_t per_layer_vector = 2 * c.dim + c.buckets * c.heads;
  b.weights = c.vocab * c.dim * embedding_bytes_per_value + c.layers * (per_layer_matrix * m + per_layer_vector * 4) +
              c.dim * 4;
  const int64_t L = c.text_len;
  // x, the norm's output, o, the FFN's output and the context [L, dim]; q, k,
  // v, attention out [L, dim_attn]; the FFN's two branches [L, dim_ffn]; one
  // layer's bias [heads, L, L]; the mask.
  b.activations = 4 * (5 * L * c.dim + 4 * L * c.dim_attn + 2 * L * c.dim_ffn + c.heads * L * L + L);
  return b;
}

Umt5Encoder::Umt5Encoder(const WeightMap& w, ops::MatmulPrecision precision, Backend on)
    : cfg_(umt5_config(w)), precision_(precision), backend_(on), path_(w.path()) {
  const int64_t D = cfg_.dim, A = cfg_.dim_attn, F = cfg_.dim_ffn;
  auto vec = [&](const std::string& name) { return ops::to_backend(w.get(name, {D}).to(DType::F32), on); };
  auto lin = [&](const std::string& name, int64_t out, int64_t in) {
    return ops::prepare_linear(w.get(name, {out, in}), Tensor(), precision, on);
  };
  token_embedding_ = w.get("token_embedding.weight", {cfg_.vocab, D});  // [vocab, dim]
  uint64_t h = 0xcbf29ce484222325ull;
  const int64_t cfg_words[] = {cfg_.vocab, D, A, F, cfg_.layers, cfg_.heads, cfg_.buckets, cfg_.max_distance,
                               cfg_.text_len};
  h = fnv1a(h, cfg_words, sizeof cfg_words);
  h = fnv1a(h, &cfg_.eps, sizeof cfg_.eps);
  h = hash_tensor(h, token_embedding_, 1 << 16);
  for (int64_t n = 0; n < cfg_.layers; ++n) {
    Block b;
    b.norm1 = vec(block_name(n, "norm1.weight"));          // [dim]
    b.q = lin(block_name(n, "attn.q.weight"), A, D);        // [dim_attn, dim]
    b.k = lin(block_name(n, "attn.k.weight"), A, D);        // [dim_attn, dim]
    b.v = lin(block_name(n, "attn.v.weight"), A, D);        // [dim_attn, dim]
    b.o = lin(block_name(n, "attn.o.weight"), D, A);        // [dim, dim_attn]
    b.norm2 = vec(block_name(n, "norm2.weight"));          // [dim]
    b.gate = lin(block_name(n, "ffn.gate.0.weight"), F, D);  // [dim_ffn, dim]
    b.fc1 = lin(block_name(n, "ffn.fc1.weight"), F, D);     // [dim_ffn, dim]
    b.fc2 = lin(block_name(n, "ffn.fc2.weight"), D, F);     // [dim, dim_ffn]
    const Tensor pos = w.get(block_name(n, "pos_embedding.embedding.weight"), {cfg_.buckets, cfg_.heads});  // [buckets, heads]
    b.pos = pos.to_floats();
    h = fnv1a(h, b.pos.data(), b.pos.size() * sizeof(float));
    h = hash_tensor(h, w.get(block_name(n, "attn.q.weight")), 1 << 12);
    h = hash_tensor(h, w.get(block_name(n, "ffn.fc2.weight")), 1 << 12);
    blocks_.push_back(std::move(b));
  }
  const Tensor norm = w.get("norm.weight", {D});  // [dim]
  h = hash_tensor(h, norm, norm.nbytes());
  norm_ = ops::to_backend(norm.to(DType::F32), on);
  weights_hash_ = h;
}

Tensor Umt5Encoder::run_rows(const std::vector<int32_t>& ids, const std::vector<float>& mask, int64_t L,
                             std::vector<Tensor>* taps) const {
  const int64_t D = cfg_.dim, A = cfg_.dim_attn, F = cfg_.dim_ffn, H = cfg_.heads, dh = cfg_.head_dim();
  const Backend on = backend_;
  // x = E[ids], gathered on the host from the stored rows.
  Tensor host_x = Tensor::empty({L, D});
  for (int64_t i = 0; i < L; ++i) row_to_f32(token_embedding_, ids[i], host_x.f32() + i * D);
  Tensor x = ops::to_backend(host_x, on);                                               // [L, dim]
  Tensor key_mask = ops::to_backend(Tensor::from_floats(std::vector<float>(mask.begin(), mask.begin() + L), {L}), on);
  Tensor a = ops::empty({L, D}, on), o = ops::empty({L, D}, on);                         // [L, dim]
  Tensor q = ops::empty({L, A}, on), k = ops::empty({L, A}, on), v = ops::empty({L, A}, on);  // [L, dim_attn]
  Tensor att = ops::empty({L, H, dh}, on);                                               // [L, heads, dh]
  Tensor g = ops::empty({L, F}, on), f1 = ops::empty({L, F}, on);                        // [L, dim_ffn]
  // bucket(j - i) for j - i = -(L-1) .. L-1; the bias table is per layer.
  std::vector<int32_t> bucket(static_cast<size_t>(2 * L - 1));
  for (int64_t r = -(L - 1); r < L; ++r)
    bucket[static_cast<size_t>(r + L - 1)] = static_cast<int32_t>(umt5_bucket(r, cfg_.buckets, cfg_.max_distance));
  Tensor host_bias = Tensor::empty({H, L, L});                                           // [heads, L, L]
  for (const Block& b : blocks_) {
    float* bp = host_bias.f32();
    for (int64_t hh = 0; hh < H; ++hh)
      for (int64_t i = 0; i < L; ++i) {
        float* row = bp + (hh * L + i) * L;
        const int32_t* bk = bucket.data() + (L - 1 - i);  // bk[j] = bucket(j - i)
        for (int64_t j = 0; j < L; ++j) row[j] = b.pos[static_cast<size_t>(bk[j]) * H + hh];
      }
    const Tensor bias = ops::to_backend(host_bias, on);
    ops::rms_norm(x, b.norm1, cfg_.eps, a);
    ops::linear(a, b.q, q);
    ops::linear(a, b.k, k);
    ops::linear(a, b.v, v);
    ops::biased_attention(q.reshape({L, H, dh}), k.reshape({L, H, dh}), v.reshape({L, H, dh}), bias, key_mask, 1.0f,
                          att);  // no 1/sqrt(dh)
    ops::linear(att.reshape({L, A}), b.o, o);
    ops::add(x, o);
    ops::rms_norm(x, b.norm2, cfg_.eps, a);
    ops::linear(a, b.gate, g);
    ops::gelu_tanh(g);
    ops::linear(a, b.fc1, f1);
    ops::mul(f1, g);
    ops::linear(f1, b.fc2, o);
    ops::add(x, o);
    if (taps) taps->push_back(ops::to_backend(x, Backend::CPU).clone());
  }
  Tensor out = ops::empty({L, D}, on);  // [L, dim]
  ops::rms_norm(x, norm_, cfg_.eps, out);
  return out;
}

Umt5Encoder::Output Umt5Encoder::encode(const std::vector<int32_t>& ids, const std::vector<float>& mask,
                                        const Options& opt) const {
  const int64_t L = static_cast<int64_t>(ids.size());
  if (L == 0) throw Error(path_ + ": umT5: no tokens to encode");
  if (mask.size() != ids.size())
    throw Error(path_ + ": umT5: " + std::to_string(ids.size()) + " token ids but " + std::to_string(mask.size()) +
                " mask values");
  int64_t seq_len = 0;
  bool prefix = true;
  for (int64_t i = 0; i < L; ++i) {
    if (ids[i] < 0 || ids[i] >= cfg_.vocab)
      throw Error(path_ + ": umT5: token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                  " is outside the vocabulary [0, " + std::to_string(cfg_.vocab) + ")");
    if (mask[i] != 0.0f && mask[i] != 1.0f)
      throw Error(path_ + ": umT5: mask value " + std::to_string(mask[i]) + " at position " + std::to_string(i) +
                  " is neither 0 nor 1");
    if (mask[i] != 0.0f) {
      if (seq_len != i) prefix = false;
      ++seq_len;
    }
  }
  Output r;
  r.seq_len = seq_len;
  const bool full = opt.full || opt.taps || !prefix;
  const int64_t rows = full ? L : seq_len;
  Tensor out;
  if (rows > 0) out = run_rows(ids, mask, rows, opt.taps ? &r.block_outs : nullptr);
  // context: out's first seq_len rows, zeros after (get_rows' -1 rows).
  std::vector<int32_t> keep(static_cast<size_t>(L), -1);
  for (int64_t i = 0; i < seq_len; ++i) keep[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  r.context = ops::zeros({L, cfg_.dim}, backend_);
  if (seq_len > 0) ops::get_rows(out, keep, r.context);
  if (full) r.encoder_out = out;
  return r;
}

Tensor Umt5Encoder::encode(const std::vector<int32_t>& ids, const std::vector<float>& mask) const {
  return encode(ids, mask, Options{}).context;
}

}  // namespace wl
