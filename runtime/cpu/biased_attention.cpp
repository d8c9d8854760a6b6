// biased_attention on the CPU (runtime/core/ops.h): the plain twin. One work
// item per (head, query): the logits of the kept keys, their max, the
// exponentials and the weighted sum of values, all in f32. Written for
// clarity; the umT5 encoder that uses it runs once per prompt.
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/cpu/ops_cpu.h"

namespace wl::cpu {

void biased_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& key_mask,
                      float scale, Tensor& out) {
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2), Lk = k.dim(0);
  const int64_t row = H * d;  // stride between tokens of q, k, v and out
  const float* qp = q.f32();
  const float* kp = k.f32();
  const float* vp = v.f32();
  const float* bp = bias.defined() ? bias.f32() : nullptr;
  const float* mp = key_mask.defined() ? key_mask.f32() : nullptr;
  float* op = out.f32();
  const int64_t items = H * Lq;
#pragma omp parallel if (items * Lk * d >= detail::kParallelMin)
  {
    std::vector<float> p(static_cast<size_t>(Lk));
    std::vector<float> acc(static_cast<size_t>(d));
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t h = it / Lq, i = it % Lq;
      const float* qi = qp + i * row + h * d;
      const float* bi = bp ? bp + (h * Lq + i) * Lk : nullptr;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < Lk; ++j) {
        if (mp && mp[j] == 0.0f) continue;
        const float* kj = kp + j * row + h * d;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < d; ++c) s += qi[c] * kj[c];
        s = s * scale + (bi ? bi[j] : 0.0f);
        p[static_cast<size_t>(j)] = s;
        if (s > mx) mx = s;
      }
      for (int64_t c = 0; c < d; ++c) acc[static_cast<size_t>(c)] = 0.0f;
      float sum = 0.0f;
      if (mx != -std::numeric_limits<float>::infinity()) {
        for (int64_t j = 0; j < Lk; ++j) {
          if (mp && mp[j] == 0.0f) continue;
          const float w = std::exp(p[static_cast<size_t>(j)] - mx);
          sum += w;
          const float* vj = vp + j * row + h * d;
          float* a = acc.data();
#pragma omp simd
          for (int64_t c = 0; c < d; ++c) a[c] += w * vj[c];
        }
      }
      float* oi = op + i * row + h * d;
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      for (int64_t c = 0; c < d; ++c) oi[c] = acc[static_cast<size_t>(c)] * inv;
    }
  }
}

}  // namespace wl::cpu
