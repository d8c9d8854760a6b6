// CPU backend of the op set (runtime/ops.h): the same functions in namespace
// wl::cpu. runtime/ops.cpp checks the arguments and dispatches here, so these
// functions may assume shapes agree, tensors are F32 (activations), CPU and
// contiguous.
//
//   norms.cpp        layer_norm, layer_norm_modulate, rms_norm
//   elementwise.cpp  gated_add, add, mul, gelu_tanh, silu
//   rope.cpp         rope_3d
//   attention.cpp    attention (flash-style, streaming over key blocks)
//   biased_attention.cpp  biased_attention (dense bias per head, key mask)
//   layout.cpp       patchify, unpatchify
//   linear_onednn.cpp  best_matmul_precision, prepare_linear, linear
//   kv_rows.cpp      set_rows, get_rows, merge_rows, attention_mass, query_sums,
//                    expected_attention (the KV cache's ops)
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"

namespace wl::cpu {

using ops::KVSegment;
using ops::LinearWeight;
using ops::MatmulPrecision;

// ---- matrix products (runtime/cpu/linear_onednn.cpp) -------------------------
MatmulPrecision best_matmul_precision();
LinearWeight prepare_linear(const Tensor& weight, const Tensor& bias, MatmulPrecision precision);
void linear(const Tensor& x, const LinearWeight& w, Tensor& y);

// ---- normalisation and modulation (norms.cpp, elementwise.cpp) ---------------
void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& y);
void layer_norm_modulate(const Tensor& x, const Tensor& mod, int shift_row, int scale_row,
                         int64_t tokens_per_frame, float eps, Tensor& y);
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y);
void gated_add(Tensor& x, const Tensor& y, const Tensor& mod, int gate_row, int64_t tokens_per_frame);
void add(Tensor& x, const Tensor& y);
void mul(Tensor& x, const Tensor& y);
void add_modulation(const Tensor& base, const Tensor& e, Tensor& out);

// ---- activations (elementwise.cpp) --------------------------------------------
void gelu_tanh(Tensor& x);
void silu(Tensor& x);

// ---- positions (rope.cpp) -------------------------------------------------------
void rope_3d(Tensor& x, int64_t frame0, int64_t frames, int64_t rows, int64_t cols);

// ---- attention (attention.cpp) --------------------------------------------------
void attention(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out);
// biased_attention.cpp: dense per-head bias and a key mask (T5 relative positions)
void biased_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& key_mask,
                      float scale, Tensor& out);

// ---- rows and scores over cached keys (kv_rows.cpp) ----------------------------
void set_rows(Tensor& table, const std::vector<int32_t>& index, const Tensor& rows);
void get_rows(const Tensor& table, const std::vector<int32_t>& index, Tensor& out);
void merge_rows(Tensor& table, const std::vector<ops::RowMerge>& merges);
std::vector<float> attention_mass(const Tensor& q, const Tensor& keys, const std::vector<int32_t>& rows,
                                  const Tensor& bias, int64_t queries, float scale);
void query_sums(const Tensor& x, std::vector<double>& sum, std::vector<double>& sum_sq);
ops::ExpectedScores expected_attention(const Tensor& keys, const Tensor& values, const std::vector<int32_t>& rows,
                                       const std::vector<float>& log_count, const ops::ExpectedQuery& q,
                                       bool weight_by_value_norm, const std::vector<ops::RowPair>& pairs,
                                       float cost_limit);

// ---- convolutions (conv_onednn.cpp, layout.cpp) -------------------------------
ops::ConvWeight prepare_conv2d(const Tensor& weight, const Tensor& bias, int stride, int padding);
void conv2d(const Tensor& x, const ops::ConvWeight& w, Tensor& y);
ops::ConvWeight prepare_conv3d(const Tensor& weight, const Tensor& bias, int padding);
void conv3d_frames(const Tensor& x, const ops::ConvWeight& w, Tensor& y);
void upsample_nearest_2x(const Tensor& x, Tensor& y);

// ---- layout (layout.cpp) ----------------------------------------------------------
void patchify(const Tensor& x, int ph, int pw, Tensor& patches);
void unpatchify(const Tensor& tokens, int64_t frames, int64_t h, int64_t w, int ph, int pw,
                int64_t channels, Tensor& out);

}  // namespace wl::cpu

// ---- helpers shared by the CPU kernels ----------------------------------------
#include "runtime/cpu/simd_exp.h"

namespace wl::cpu::detail {

// Below this many elements an op runs on the calling thread: waking a team
// costs more than the work (and much more when another process holds a core).
constexpr int64_t kParallelMin = 1 << 15;

}  // namespace wl::cpu::detail
