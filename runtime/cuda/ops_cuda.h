// CUDA backend of the op set (runtime/ops.h): the same functions as wl::cpu
// (runtime/cpu/ops_cpu.h) in namespace wl::cuda. runtime/ops.cpp checks the
// arguments and dispatches here, so these functions may assume shapes agree,
// activations are F32 and contiguous, and every tensor (and KVSegment pointer)
// is device memory. Every op is queued on stream() and returns without
// waiting; copies to the host wait.
//
//   memory.cu            device query, stream, allocation, copies
//   linear_cublaslt.cu   prepare_linear, linear (cuBLASLt: bf16 or f32, f32 accumulate)
//   norms.cu             layer_norm, layer_norm_modulate, rms_norm, rms_norm_rope_3d
//   elementwise.cu       gated_add, add, mul, add_modulation, gelu_tanh, silu
//   rope.cu              rope_3d
//   attention.cu         attention: F32 -> attention_flash.cu; BF16 -> cuDNN SDPA
//                        (attention_cudnn.cu) where it takes the call, flash otherwise
//   biased_attention.cu  biased_attention (dense bias per head, key mask)
//   layout.cu            patchify, unpatchify, upsample_nearest_2x
//   conv_cudnn.cu        prepare_conv2d, conv2d
//   kv_rows.cu           set_rows, get_rows, merge_rows, attention_mass, query_sums,
//                        expected_attention (the KV cache's ops)
//
// Built only with WORLDLOOP_CUDA (guard includes with WORLDLOOP_HAS_CUDA).
// Plain types only: no CUDA header is needed to include this one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace wl::cuda {

using ops::ConvWeight;
using ops::KVSegment;
using ops::LinearWeight;
using ops::MatmulPrecision;

// ---- device and memory (memory.cu) -------------------------------------------

// True when a device is usable (asked once, then cached); otherwise `reason`
// (if given) says why ("no CUDA device: ...", runtime/cuda/cuda_unavailable.h)
// and `worth_a_warning` whether a driver is installed but unusable. Logs nothing.
bool device_available(std::string* reason = nullptr, bool* worth_a_warning = nullptr);
// The stream every op of this process runs on (created on first use).
CUstream_st* stream();
// Device storage, freed when the last Tensor sharing it goes.
Tensor empty(const Shape& shape, DType dtype);
Tensor zeros(const Shape& shape, DType dtype);
// dst <- src for any pair of backends with at least one CUDA side; waits when
// dst is on the CPU.
void copy(const Tensor& src, Tensor& dst);
void synchronize();
// Device memory: free and total bytes of the current device.
void memory_info(size_t& free_bytes, size_t& total_bytes);

// ---- matrix products (linear_cublaslt.cu) -------------------------------------

// weight (CPU, F32/BF16/F16) [N, K] and bias (CPU) [N] -> device copies in
// `precision` (bias F32).
LinearWeight prepare_linear(const Tensor& weight, const Tensor& bias, MatmulPrecision precision);
// y[M, N] = x[M, K] W^T + b. BF16: x is rounded to bf16 on the device,
// products accumulate in f32; F32: f32 throughout (no TF32).
void linear(const Tensor& x, const LinearWeight& w, Tensor& y);

// ---- normalisation and modulation (norms.cu, elementwise.cu) ------------------

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& y);
void layer_norm_modulate(const Tensor& x, const Tensor& mod, int shift_row, int scale_row,
                         int64_t tokens_per_frame, float eps, Tensor& y);
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y);
void rms_norm_rope_3d(const Tensor& x, const Tensor& weight, float eps, int64_t frame0, int64_t frames,
                      int64_t rows, int64_t cols, Tensor& normed, Tensor& rotated);
void gated_add(Tensor& x, const Tensor& y, const Tensor& mod, int gate_row, int64_t tokens_per_frame);
void add(Tensor& x, const Tensor& y);
void mul(Tensor& x, const Tensor& y);
void add_modulation(const Tensor& base, const Tensor& e, Tensor& out);

// ---- activations (elementwise.cu) -----------------------------------------------

void gelu_tanh(Tensor& x);
void silu(Tensor& x);

// ---- positions (rope.cu) ----------------------------------------------------------

void rope_3d(Tensor& x, int64_t frame0, int64_t frames, int64_t rows, int64_t cols);

// ---- attention (attention.cu, attention_cudnn.cu, attention_flash.cu) -------------

void attention(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out,
               MatmulPrecision precision);
// biased_attention.cu: one block per (query, head), the key row's logits in
// shared memory (throws wl::Error past what shared memory holds).
void biased_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& key_mask,
                      float scale, Tensor& out);

// ---- convolutions and layout (conv_cudnn.cu, layout.cu) ---------------------------

ConvWeight prepare_conv2d(const Tensor& weight, const Tensor& bias, int stride, int padding);
void conv2d(const Tensor& x, const ConvWeight& w, Tensor& y);
void upsample_nearest_2x(const Tensor& x, Tensor& y);
void patchify(const Tensor& x, int ph, int pw, Tensor& patches);
void unpatchify(const Tensor& tokens, int64_t frames, int64_t h, int64_t w, int ph, int pw,
                int64_t channels, Tensor& out);

// ---- rows and scores over cached keys (kv_rows.cu) ----------------------------------
// Index and merge lists are uploaded here (the last few are kept on the
// device and found again by content); the scores wait for their results.

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

}  // namespace wl::cuda
