// bench_attention_cuda: the CUDA attention at Wan 1.3B's shape, a chunk of 3
// latent frames (4680 queries, 12 heads of 128) attending to a full cache of 21
// frames (32760 keys in two segments: the cached frames and the chunk's own);
// prints one JSON object with the milliseconds per call of the flash kernel
// (f32) and of cuDNN's SDPA (bf16): median of --runs calls after a warm-up,
// each timed with CUDA events on the model stream, and how far apart the two
// outputs are. Without a device (or without the CUDA backend) it prints
// {"skipped": "<reason>"} and exits 0.
//
//   bench_attention_cuda [--runs N] [--queries Lq] [--keys S]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli/args.h"
#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#ifdef WORLDLOOP_HAS_CUDA
#include <cuda_runtime.h>

#include "runtime/cuda/attention_paths.h"
#include "runtime/cuda/ops_cuda.h"
#endif

namespace {

using nlohmann::json;

#ifdef WORLDLOOP_HAS_CUDA

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw wl::Error(std::string(what) + ": " + cudaGetErrorString(err));
}

// Milliseconds of each of `runs` calls of `call`, after one untimed warm-up.
template <class F>
std::vector<double> time_calls(int runs, F&& call) {
  cudaStream_t s = wl::cuda::stream();
  cudaEvent_t start = nullptr, stop = nullptr;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  call();
  check(cudaStreamSynchronize(s), "warm-up");
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    check(cudaEventRecord(start, s), "cudaEventRecord");
    call();
    check(cudaEventRecord(stop, s), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float t = 0;
    check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms;
}

json summary(std::vector<double> v, double flop) {
  std::sort(v.begin(), v.end());
  const double median = v[v.size() / 2];
  return {{"median_ms", median}, {"min_ms", v.front()}, {"max_ms", v.back()}, {"n", v.size()},
          {"tflops", flop / (median * 1e-3) * 1e-12}};
}

wl::Tensor random_tensor(const wl::Shape& shape, uint32_t seed) {
  wl::Tensor t = wl::Tensor::empty(shape);
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = u(g);
  return t;
}

double relative_l2(const wl::Tensor& a, const wl::Tensor& ref) {
  const std::vector<float> av = wl::ops::to_backend(a, wl::Backend::CPU).to_floats();
  const std::vector<float> rv = wl::ops::to_backend(ref, wl::Backend::CPU).to_floats();
  double num = 0, den = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    num += (static_cast<double>(av[i]) - rv[i]) * (static_cast<double>(av[i]) - rv[i]);
    den += static_cast<double>(rv[i]) * rv[i];
  }
  return std::sqrt(num / den);
}

json run(int runs, int64_t Lq, int64_t S) {
  using wl::Backend;
  const int64_t H = 12, d = 128;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const wl::Tensor q = wl::ops::to_backend(random_tensor({Lq, H, d}, 1), Backend::CUDA);  // [Lq, H, d]
  const wl::Tensor k = wl::ops::to_backend(random_tensor({S, H, d}, 2), Backend::CUDA);   // [S, H, d]
  const wl::Tensor v = wl::ops::to_backend(random_tensor({S, H, d}, 3), Backend::CUDA);
  // Cached keys, then the chunk's own (as many as it has queries).
  const int64_t own = std::min(Lq, S), cached = S - own;
  std::vector<wl::ops::KVSegment> segs;
  if (cached > 0) segs.push_back({k.f32(), v.f32(), nullptr, cached});
  segs.push_back({k.f32() + cached * H * d, v.f32() + cached * H * d, nullptr, own});

  wl::Tensor out_flash = wl::ops::empty({Lq, H, d}, Backend::CUDA);
  wl::Tensor out_cudnn = wl::ops::empty({Lq, H, d}, Backend::CUDA);
  const double flop = 4.0 * static_cast<double>(Lq) * S * H * d;
  json result = {{"shape", {{"queries", Lq}, {"keys", S}, {"heads", H}, {"head_dim", d}, {"segments", segs.size()}}},
                 {"runs", runs}};
  result["flash_f32"] = summary(time_calls(runs, [&] { wl::cuda::attention_flash(q, segs, scale, out_flash); }), flop);
  if (wl::cuda::attention_cudnn(q, segs, scale, out_cudnn)) {  // builds the plan
    result["cudnn_bf16"] =
        summary(time_calls(runs, [&] { wl::cuda::attention_cudnn(q, segs, scale, out_cudnn); }), flop);
    result["cudnn_vs_flash_rel_l2"] = relative_l2(out_cudnn, out_flash);
  } else {
    result["cudnn_bf16"] = "declined (see the log line)";
  }
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  result["device"] = prop.name;
  return result;
}

#endif  // WORLDLOOP_HAS_CUDA

}  // namespace

int main(int argc, char** argv) {
  try {
    wl::app::Args args(argc, argv, {"runs", "queries", "keys"});
    const int runs = static_cast<int>(args.get_int("runs", 10));
    const int64_t Lq = args.get_int("queries", 4680), S = args.get_int("keys", 32760);
    if (runs < 1 || Lq < 1 || S < 1) throw wl::Error("--runs, --queries and --keys must be positive");
#ifdef WORLDLOOP_HAS_CUDA
    if (!wl::ops::backend_available(wl::Backend::CUDA)) {
      std::printf("%s\n", json{{"skipped", wl::ops::backend_unavailable_reason(wl::Backend::CUDA)}}.dump().c_str());
      return 0;
    }
    json out = run(runs, Lq, S);
    out["bench"] = "attention_cuda";
    std::printf("%s\n", out.dump(2).c_str());
#else
    std::printf("%s\n", json{{"skipped", "CUDA backend not built"}}.dump().c_str());
#endif
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attention_cuda: %s\n", e.what());
    return 1;
  }
}
