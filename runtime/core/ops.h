// The op set of the model runtime: one declaration per op, one implementation
// per backend (runtime/cpu/ and runtime/cuda/; docs/ARCHITECTURE.md says how
// to add one). Every op dispatches on
// the backend of its tensors; all activations are F32, row-major, contiguous.
//
// Naming: T tokens, F frames, D model width, H heads, d head width.
// Tokens are ordered frame, then row, then column, so token i belongs to frame
// i / tokens_per_frame.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl::ops {

// ---- memory: where tensors live ----------------------------------------------

// True when ops can run on `b`: always for the CPU; for CUDA when the backend
// was built and a device is present (asked once, then cached). Logs nothing:
// callers that fall back decide what to say.
bool backend_available(Backend b);
// A short reason when backend_available(b) is false ("CUDA backend not built",
// "no CUDA device: ..."), empty otherwise.
std::string backend_unavailable_reason(Backend b);
// True when `b` is unavailable for a reason its user would want to hear about
// even without asking for it: a CUDA driver that is installed but too old or
// failing. A machine with no NVIDIA driver, or a build without CUDA, is not.
bool backend_unavailable_is_a_problem(Backend b);
// Uninitialised / zeroed storage on a backend (CUDA: device memory).
Tensor empty(const Shape& shape, Backend on, DType dtype = DType::F32);
Tensor zeros(const Shape& shape, Backend on, DType dtype = DType::F32);
// dst <- src, same shape and dtype, any pair of backends. Returns when the
// data can be read on dst's side (host reads are safe after a copy to CPU).
void copy(const Tensor& src, Tensor& dst);
// src itself when it already lives on `on`, else a copy there.
Tensor to_backend(const Tensor& src, Backend on);
// Waits for every op queued on the backend (a no-op on the CPU).
void synchronize(Backend b);

// ---- matrix products --------------------------------------------------------

enum class MatmulPrecision : uint8_t {
  F32,   // f32 inputs, f32 accumulation: exact comparisons
  BF16,  // bf16 inputs, f32 accumulation (AMX / AVX-512-BF16)
};
// BF16 where the processor has native bf16 dot products, F32 otherwise; the
// environment variable WORLDLOOP_MATMUL=f32|bf16 overrides it.
MatmulPrecision best_matmul_precision();
const char* precision_name(MatmulPrecision p);
// A --precision flag's value: "auto" (best_matmul_precision()), "f32" or
// "bf16"; anything else throws an Error that names `flag` and the value.
MatmulPrecision parse_precision(const std::string& value, const std::string& flag = "--precision");

// What the CPU backend runs on, for logs, --version, the HUD and bench JSON.
struct CpuInfo {
  std::string onednn_isa;  // oneDNN's effective ISA: "avx2", "avx512_core", "avx512_core_amx", ...
  std::string kernels;     // worldloop's own vector kernels: "avx512", "avx2" or "portable"
  bool native_bf16 = false;  // bf16 dot products in hardware; BF16 products are emulated without them
  std::string build_arch;  // the compiler's base target: "native" or "x86-64-v2"
};
CpuInfo cpu_info();
// "avx512_core_amx (kernels avx512), BF16 native" / "avx2 (kernels avx2), BF16 emulated"
std::string describe_cpu(MatmulPrecision p);

// A linear layer's weight prepared once for a precision: W [N, K] (torch
// layout, out x in) stored as F32 or BF16, optional bias [N] (always F32).
struct LinearWeight {
  Tensor weight;  // [N, K], dtype F32 or BF16 matching `precision`
  Tensor bias;    // [N] F32, or undefined
  MatmulPrecision precision = MatmulPrecision::F32;
  std::shared_ptr<const void> packed;  // backend-specific pre-packed form, or null
  int64_t out_features() const { return weight.dim(0); }
  int64_t in_features() const { return weight.dim(1); }
};
// Converts a checkpoint weight (F32/BF16/F16, on the CPU) and bias to
// `precision`, stored on backend `on` (CUDA: uploaded once, here).
LinearWeight prepare_linear(const Tensor& weight, const Tensor& bias, MatmulPrecision precision,
                            Backend on = Backend::CPU);

// y[M, N] = x[M, K] W^T + b. y must be allocated [M, N].
void linear(const Tensor& x, const LinearWeight& w, Tensor& y);

// ---- normalisation and modulation ------------------------------------------

// y = LayerNorm(x) over the last dim (biased variance), optional affine
// weight/bias [D] (undefined Tensor = none). x, y: [rows, D]; y may alias x.
void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& y);

// y = LayerNorm(x) * (1 + mod[f, scale_row]) + mod[f, shift_row], no affine,
// with f = token / tokens_per_frame. x, y: [T, D]; mod: [F, R, D]. y may alias x.
void layer_norm_modulate(const Tensor& x, const Tensor& mod, int shift_row, int scale_row,
                         int64_t tokens_per_frame, float eps, Tensor& y);

// y = x * rsqrt(mean(x^2) + eps) * weight over the last dim D. y may alias x.
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y);

// x[t] += y[t] * mod[f, gate_row] with f = t / tokens_per_frame. x, y: [T, D].
void gated_add(Tensor& x, const Tensor& y, const Tensor& mod, int gate_row, int64_t tokens_per_frame);

// x += y, same shape.
void add(Tensor& x, const Tensor& y);

// x *= y element by element, same shape (a gated FFN's product of branches).
void mul(Tensor& x, const Tensor& y);

// out[f, r] = base[r] + e[f, r] for e [F, R, D], or base[r] + e[f] for e [F, D];
// base [R, D], out [F, R, D]. (A block's modulation plus the frame's time
// embedding.)
void add_modulation(const Tensor& base, const Tensor& e, Tensor& out);

// ---- activations (in place) -------------------------------------------------

void gelu_tanh(Tensor& x);  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
void silu(Tensor& x);       // x / (1 + exp(-x))

// ---- positions --------------------------------------------------------------

// 3D RoPE in place on x [T, H, d] for tokens of `frames` x `rows` x `cols`
// (T = frames*rows*cols), the first frame at absolute position `frame0`
// (any non-negative integer: no table cap). Pairs (x[2i], x[2i+1]) are complex
// numbers; of c = d/2 pairs the first c - 2*(c/3) rotate by the frame, the
// next c/3 by the row, the last c/3 by the column; part p of size n uses
// angle(pos, i) = pos / 10000^(2i / (2n)). Angles and rotation in float64.
void rope_3d(Tensor& x, int64_t frame0, int64_t frames, int64_t rows, int64_t cols);

// Fused q/k preparation: normed = RMSNorm(x) * weight over the whole row
// (H*d, as Wan's norm_q / norm_k), rotated = rope_3d(normed). x, normed,
// rotated: [T, H, d]; weight [H*d]. The same numbers as rms_norm followed by
// rope_3d on a copy.
void rms_norm_rope_3d(const Tensor& x, const Tensor& weight, float eps, int64_t frame0, int64_t frames,
                      int64_t rows, int64_t cols, Tensor& normed, Tensor& rotated);

// ---- attention --------------------------------------------------------------

// A run of keys and values in memory, [len, H, d] each (row stride H*d), with
// an optional additive logit bias per key (e.g. a merged token's log count).
// The pointers live on the backend of the attention's q (device pointers for
// CUDA).
struct KVSegment {
  const float* k = nullptr;
  const float* v = nullptr;
  const float* bias = nullptr;  // [len] or nullptr
  int64_t len = 0;
};

// out[Lq, H, d] = softmax(q k^T * scale + bias) v per head, over the keys of
// all segments in order (no mask). q: [Lq, H, d]. `precision` BF16 lets a
// backend compute the products in bf16 (f32 softmax and accumulation; the
// CPU always uses f32); F32 is exact.
void attention(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out,
               MatmulPrecision precision = MatmulPrecision::F32);

// Attention with a dense additive bias per head and a key mask (T5's
// relative-position attention). q [Lq, H, d], k and v [Lk, H, d], bias
// [H, Lq, Lk] or undefined (0), key_mask [Lk] or undefined (all keys); a key
// j takes part where key_mask[j] != 0. Per head h and query i:
//   s_j = scale * sum_c q[i, h, c] k[j, h, c] + bias[h, i, j]   (kept keys j)
//   out[i, h, :] = sum_j softmax_j(s) v[j, h, :]
// A query with no kept key gets zeros. f32 products and softmax on every
// backend. out [Lq, H, d] must not alias q, k or v.
void biased_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& key_mask,
                      float scale, Tensor& out);

// ---- rows: whole rows of a table moved and mixed (the KV cache) ---------------
//
// A table is an F32 tensor whose first dimension counts its rows; a row is
// everything after it (a KV store's block of keys [S, H, d] holds S rows of
// H*d floats). Row indices are small host vectors; the backend takes them
// where its kernels read them. Copies are exact on every backend.

// table[index[i]] = rows[i] for i < rows.dim(0) (llama.cpp's set_rows).
// index: rows.dim(0) distinct rows of table; rows: [n, ...] with table's
// row shape.
void set_rows(Tensor& table, const std::vector<int32_t>& index, const Tensor& rows);

// out[i] = table[index[i]], a row of zeros where index[i] is -1 (llama.cpp's
// get_rows). out: [index.size(), ...] with table's row shape; it must not
// share memory with table.
void get_rows(const Tensor& table, const std::vector<int32_t>& index, Tensor& out);

// One merge of two rows of a table: row `into` becomes
// w_into * row into + w_from * row from; row `from` stays as it is.
struct RowMerge {
  int32_t into = 0, from = 0;
  float w_into = 0, w_from = 0;
};
// Applies the merges in order: a row merged into twice, or merged into and
// then merged from, sees the earlier merge's result. into != from.
void merge_rows(Tensor& table, const std::vector<RowMerge>& merges);

// ---- scores over cached keys (the KV cache's policies) ------------------------
//
// Results are small per-row vectors and come back on the host; the keys,
// values and queries stay on their backend. On the CPU these are the
// cache's reference arithmetic; another backend sums in another order and
// agrees to float rounding.

// The attention a few of a call's queries pay a set of cached keys (the
// "observed" policy). q [T, H, d]; keys [S, H, d]; rows: the keys attended
// (distinct rows of keys); bias [S], a logit bias per row of keys, or
// undefined. Query i < queries is token ((2i+1) T) / (2 queries) (integer
// division: the middle of the i-th of `queries` equal stretches), 1 <=
// queries. Per sampled query and head h:
//   p_j = softmax over j of (q_ih . keys[rows[j], h] * scale + bias[rows[j]]).
// Returns [rows.size()]: p_j summed over the sampled queries and the heads.
std::vector<float> attention_mass(const Tensor& q, const Tensor& keys, const std::vector<int32_t>& rows,
                                  const Tensor& bias, int64_t queries, float scale);

// Per element i of a row of x [T, ...] (a call's queries [T, H, d]):
// sum[i] = sum over t of x[t, i] and sum_sq[i] = sum over t of x[t, i]^2,
// accumulated in float64. Both are resized to the row size.
void query_sums(const Tensor& x, std::vector<double>& sum, std::vector<double>& sum_sq);

// The expected query of a block's future calls (the "future" policy's
// proxy), per head, the logit scale folded in. A head's first `dt` floats
// rotate with the frame and are given per horizon offset; the other d - dt
// (height and width pairs) are averaged over the frame's token grid.
struct ExpectedQuery {
  int64_t offsets = 0;       // horizon offsets, >= 1
  int64_t dt = 0;            // leading floats of a head that rotate with the frame, 0..d
  std::vector<float> time;   // [offsets][H][dt]
  std::vector<float> space;  // [H][d - dt]
  std::vector<float> var;    // [H][d] variance weight per float; empty: no variance term
};
// Two rows whose redundancy is asked about: positions in expected_attention's `rows`.
struct RowPair {
  int32_t a = 0, b = 0;
};
struct ExpectedScores {
  std::vector<float> attention;    // [n] share of attention, mean over heads and offsets
  std::vector<float> score;        // [n] the same weighted by |v| / mean |v| (or = attention)
  std::vector<float> pair_cost;    // [pairs] max over heads of |logit_a - logit_b|; >= cost_limit: at least that
  std::vector<float> pair_cosine;  // [pairs] cosine of the two rows of values; NaN where the cost reached the limit
};
// What an expected query makes of n = rows.size() cached keys (the "future"
// policy). keys, values [S, H, d]; rows: the keys scored (rows of keys and
// values); log_count [n], the keys' logit bias. Per head h, offset o and key j:
//   logit_hoj = space_h . k_hj[dt:] + time_oh . k_hj[:dt] + var_h . k_hj^2 + log_count_j,
// p_hoj = softmax over j; attention_j = mean over h and o of p_hoj;
// score_j = mean over h and o of p_hoj * w_hj, where with
// weight_by_value_norm w_hj = |v_hj| / mean over j of |v_hj| (0 when that
// mean is 0), else 1. A pair's cost is the max over heads of
// |L_ha - L_hb| with L_hj = space_h . k_hj[dt:] + mean over o of
// time_oh . k_hj[:dt] (no bias, no variance); the heads are scanned in order
// until the cost reaches cost_limit. Where it stays below, pair_cosine is
// va . vb / (|va| |vb|) over whole rows of values (1 when both are zero, 0
// when one is). All empty when n is 0.
ExpectedScores expected_attention(const Tensor& keys, const Tensor& values, const std::vector<int32_t>& rows,
                                  const std::vector<float>& log_count, const ExpectedQuery& q,
                                  bool weight_by_value_norm, const std::vector<RowPair>& pairs, float cost_limit);

// ---- convolutions (the world's image encoder and decoder) --------------------

// A 2D convolution's weight prepared once: weight [O, I, kh, kw] F32, bias [O]
// (always F32, may be undefined), zero padding, stride.
struct ConvWeight {
  Tensor weight;
  Tensor bias;
  int stride = 1;
  int padding = 1;
  std::shared_ptr<const void> packed;  // backend-specific pre-packed form, or null
  int64_t out_channels() const { return weight.dim(0); }
  int64_t in_channels() const { return weight.dim(1); }
};
ConvWeight prepare_conv2d(const Tensor& weight, const Tensor& bias, int stride, int padding,
                          Backend on = Backend::CPU);

// y [N, O, Ho, Wo] = conv2d(x [N, I, H, W]) with Ho = (H + 2p - kh) / s + 1.
// y must be allocated.
void conv2d(const Tensor& x, const ConvWeight& w, Tensor& y);

// A 3D convolution over a sequence of frames, as the Wan VAE's causal
// convolutions run (the caller puts the cached frames in front):
// weight [O, I, kt, kh, kw] F32, bias [O] (may be undefined), spatial zero
// padding `padding`, no time padding, stride 1. CPU only: oneDNN's 3D
// convolution, which at the VAE decoder's 832x480 layers measured as fast as
// summing kt 2D convolutions over the time taps at 1/8 and 1.06-1.22x faster
// at 1/4 to full size, on AVX-512 and AVX2 alike (bench/bench_conv3d.cpp).
ConvWeight prepare_conv3d(const Tensor& weight, const Tensor& bias, int padding);
// y [T - kt + 1, O, Ho, Wo] = conv3d(x [T, I, H, W]), frame-major tensors
// (frame t of y sees frames t .. t + kt - 1 of x). y must be allocated.
void conv3d_frames(const Tensor& x, const ConvWeight& w, Tensor& y);

// y [N, C, 2H, 2W] = nearest-neighbour upsampling of x [N, C, H, W].
void upsample_nearest_2x(const Tensor& x, Tensor& y);

// ---- layout -----------------------------------------------------------------

// x [F, C, H, W] -> patches [F*(H/ph)*(W/pw), C*ph*pw], each patch vector
// ordered (c, kh, kw) like a Conv3d weight [D, C, 1, ph, pw] flattened.
void patchify(const Tensor& x, int ph, int pw, Tensor& patches);

// tokens [F*h*w, ph*pw*C] (vector ordered (ph, pw, c), c fastest) ->
// out [F, C, h*ph, w*pw].
void unpatchify(const Tensor& tokens, int64_t frames, int64_t h, int64_t w, int ph, int pw,
                int64_t channels, Tensor& out);

}  // namespace wl::ops
