// Plain, slow, obviously-correct float64 versions of the ops in
// runtime/core/ops.h, for the op tests (tests/backend_ops/ runs every op
// against these). Inputs are F32 tensors (or raw KV
// segments), outputs are the result as float64 values in row-major order.
// Nothing here is optimised or shared with the runtime's kernels.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"

namespace wl::ref {

// An F32 tensor of `s` with values uniform in [lo, hi) drawn from `g` (the op
// tests' random inputs).
Tensor uniform(const Shape& s, std::mt19937& g, float lo = -2.0f, float hi = 2.0f);

std::vector<double> to_double(const Tensor& t);

// y[M, N] = x[M, K] W^T + b with W [N, K] (any dtype), b [N] or undefined.
// With `precision` BF16 x and W are first rounded to bf16 (what a bf16
// product with exact accumulation gives); F32 uses them as they are.
std::vector<double> linear(const Tensor& x, const Tensor& w, const Tensor& b,
                           ops::MatmulPrecision precision = ops::MatmulPrecision::F32);

// weight / bias may be undefined (none).
std::vector<double> layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
std::vector<double> layer_norm_modulate(const Tensor& x, const Tensor& mod, int shift_row, int scale_row,
                                        int64_t tokens_per_frame, double eps);
std::vector<double> rms_norm(const Tensor& x, const Tensor& weight, double eps);
std::vector<double> gated_add(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_row,
                              int64_t tokens_per_frame);
std::vector<double> add(const Tensor& x, const Tensor& y);
std::vector<double> mul(const Tensor& x, const Tensor& y);
// out [F, R, D] = base [R, D] + e, with e [F, R, D] or [F, D] (broadcast over R).
std::vector<double> add_modulation(const Tensor& base, const Tensor& e);
std::vector<double> gelu_tanh(const Tensor& x);
std::vector<double> silu(const Tensor& x);
std::vector<double> rope_3d(const Tensor& x, int64_t frame0, int64_t frames, int64_t rows, int64_t cols);
// {normed, rotated}: rms_norm over the whole row H*d, then rope_3d of that,
// both in float64 (the rotation is applied to the float64 normed values).
std::vector<std::vector<double>> rms_norm_rope_3d(const Tensor& x, const Tensor& weight, double eps, int64_t frame0,
                                                  int64_t frames, int64_t rows, int64_t cols);
std::vector<double> attention(const Tensor& q, const std::vector<ops::KVSegment>& kv, double scale);
// ops::biased_attention: bias [H, Lq, Lk] and key_mask [Lk] may be undefined;
// a query with no kept key gives zeros.
std::vector<double> biased_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias,
                                     const Tensor& key_mask, double scale);
// y [N, O, Ho, Wo] = conv2d(x [N, I, H, W], w [O, I, kh, kw]) + b (b may be
// undefined), zero padding, Ho = (H + 2 padding - kh) / stride + 1.
std::vector<double> conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding);
std::vector<double> upsample_nearest_2x(const Tensor& x);
std::vector<double> patchify(const Tensor& x, int ph, int pw);
std::vector<double> unpatchify(const Tensor& tokens, int64_t frames, int64_t h, int64_t w, int ph, int pw,
                               int64_t channels);

// ---- the KV cache's ops (rows of a table, scores over cached keys) ----------
// The whole table after table[index[i]] = rows[i].
std::vector<double> set_rows(const Tensor& table, const std::vector<int32_t>& index, const Tensor& rows);
// [index.size(), row]: table[index[i]], zeros where index[i] is -1.
std::vector<double> get_rows(const Tensor& table, const std::vector<int32_t>& index);
// The whole table after the merges, one after the other.
std::vector<double> merge_rows(const Tensor& table, const std::vector<ops::RowMerge>& merges);
// [rows.size()]: the softmax shares of the sampled queries, summed over them and the heads.
std::vector<double> attention_mass(const Tensor& q, const Tensor& keys, const std::vector<int32_t>& rows,
                                   const Tensor& bias, int64_t queries, double scale);
// {sum, sum_sq}, each [row]: over the rows of x.
std::vector<std::vector<double>> query_sums(const Tensor& x);
// {attention [n], score [n], pair_cost [pairs], pair_cosine [pairs]} as
// ops::expected_attention defines them (the heads scanned in order until a
// pair's cost reaches cost_limit; NaN cosines past it).
std::vector<std::vector<double>> expected_attention(const Tensor& keys, const Tensor& values,
                                                    const std::vector<int32_t>& rows,
                                                    const std::vector<float>& log_count, const ops::ExpectedQuery& q,
                                                    bool weight_by_value_norm, const std::vector<ops::RowPair>& pairs,
                                                    double cost_limit);

// max |a - b| / (max |b| + 1e-30): the normalised error the op tests bound.
double normalised_error(const Tensor& a, const std::vector<double>& b);
// max |a - b| / (|b| + floor) per element: EXPECT_NEAR(a, b, r |b| + r floor)
// for every element is this error <= r.
double relative_error(const Tensor& a, const std::vector<double>& b, double floor);

}  // namespace wl::ref
