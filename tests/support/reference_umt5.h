// A float64 umT5 encoder written straight from the spec
// (shared/specs/text_action_checkpoints.md 1.2; docs/model.md "umT5 text
// encoder"), sharing no code with runtime/model/umt5.cpp, and random umT5
// checkpoints of any widths for the tests.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl::testref {

struct Umt5Spec {
  int64_t vocab = 320, dim = 48, dim_attn = 64, dim_ffn = 96, heads = 2, layers = 2;
  int64_t buckets = 32, max_dist = 128, text_len = 512;
  double eps = 1e-6;
  bool write_config = true;  // __metadata__.config JSON as the fixtures carry it
  uint64_t seed = 1;
};

// The checkpoint's tensors (t5.py names), F32 holding bf16-exact values, scaled
// so activations stay O(1); written to `path` (safetensors) with the config.
std::map<std::string, Tensor> random_umt5(const Umt5Spec& s);
void write_umt5(const std::string& path, const Umt5Spec& s, const std::map<std::string, Tensor>& tensors);

// bucket(r) by the spec's formula, in float64.
int64_t umt5_bucket_ref(int64_t r, int64_t buckets, int64_t max_dist);

// encoder output [L, dim] (every row) in float64 for ids / mask [L], and
// (if `blocks` is given) x after each layer.
std::vector<double> umt5_encode_ref(const Umt5Spec& s, const std::map<std::string, Tensor>& w,
                                    const std::vector<int32_t>& ids, const std::vector<float>& mask,
                                    std::vector<std::vector<double>>* blocks = nullptr);

// ||a - b|| / ||b||.
double rel_l2(const std::vector<float>& a, const std::vector<double>& b);

}  // namespace wl::testref
