// MG2's start encoders on the CPU: the Wan 2.1 VAE encoder (first call of 1
// frame, then calls of 4) and the CLIP vision tower, with random weights of
// the published shapes. Prints one JSON object; times are per call, median,
// min and max over --repeats.
//
//   build/bench/bench_encoders [--size 352x640] [--vae-dim 96] [--clip-dim 1280] [--clip-layers 32]
//                              [--repeats 3] [--skip-clip] [--skip-vae]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "app/cli/args.h"
#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/clip_vision.h"
#include "runtime/model/wan_vae_encoder.h"

namespace {

using Clock = std::chrono::steady_clock;
using Named = std::vector<std::pair<std::string, wl::Tensor>>;

std::mt19937 rng(1234);

wl::Tensor random(const wl::Shape& shape, double scale) {
  std::normal_distribution<float> n(0.0f, static_cast<float>(scale));
  std::vector<float> v(static_cast<size_t>(wl::shape_numel(shape)));
  for (float& x : v) x = n(rng);
  return wl::Tensor::from_floats(v, shape);
}

wl::Tensor ones(const wl::Shape& shape) { return wl::Tensor::from_floats(std::vector<float>(static_cast<size_t>(wl::shape_numel(shape)), 1.0f), shape); }

// A conv [out, in, k...] with 1/sqrt(fan_in) weights and small biases.
void conv(Named& t, const std::string& name, wl::Shape shape) {
  int64_t fan_in = 1;
  for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
  t.emplace_back(name + ".weight", random(shape, 1.0 / std::sqrt(static_cast<double>(fan_in))));
  t.emplace_back(name + ".bias", random({shape[0]}, 0.01));
}

void res_block(Named& t, const std::string& p, int64_t in, int64_t out) {
  t.emplace_back(p + "residual.0.gamma", ones({in, 1, 1, 1}));
  conv(t, p + "residual.2", {out, in, 3, 3, 3});
  t.emplace_back(p + "residual.3.gamma", ones({out, 1, 1, 1}));
  conv(t, p + "residual.6", {out, out, 3, 3, 3});
  if (in != out) conv(t, p + "shortcut", {out, in, 1, 1, 1});
}

Named vae_weights(int64_t d) {
  Named t;
  const int64_t w[5] = {d, d, 2 * d, 4 * d, 4 * d};
  conv(t, "encoder.conv1", {d, 3, 3, 3, 3});
  int i = 0;
  for (int stage = 0; stage < 4; ++stage) {
    for (int r = 0; r < 2; ++r) res_block(t, "encoder.downsamples." + std::to_string(i++) + ".", r ? w[stage + 1] : w[stage], w[stage + 1]);
    if (stage == 3) break;
    const std::string p = "encoder.downsamples." + std::to_string(i++) + ".";
    conv(t, p + "resample.1", {w[stage + 1], w[stage + 1], 3, 3});
    if (stage > 0) conv(t, p + "time_conv", {w[stage + 1], w[stage + 1], 3, 1, 1});
  }
  const int64_t m = 4 * d;
  res_block(t, "encoder.middle.0.", m, m);
  t.emplace_back("encoder.middle.1.norm.gamma", ones({m, 1, 1}));
  conv(t, "encoder.middle.1.to_qkv", {3 * m, m, 1, 1});
  conv(t, "encoder.middle.1.proj", {m, m, 1, 1});
  res_block(t, "encoder.middle.2.", m, m);
  t.emplace_back("encoder.head.0.gamma", ones({m, 1, 1, 1}));
  conv(t, "encoder.head.2", {32, m, 3, 3, 3});
  conv(t, "conv1", {32, 32, 1, 1, 1});
  return t;
}

Named clip_weights(int64_t D, int64_t layers) {
  Named t;
  const int64_t N = 257;
  t.emplace_back("visual.patch_embedding.weight", random({D, 3, 14, 14}, 1.0 / std::sqrt(588.0)));
  t.emplace_back("visual.cls_embedding", random({1, 1, D}, 0.02));
  t.emplace_back("visual.pos_embedding", random({1, N, D}, 0.02));
  for (const char* n : {"visual.pre_norm", "visual.post_norm"}) {
    t.emplace_back(std::string(n) + ".weight", ones({D}));
    t.emplace_back(std::string(n) + ".bias", random({D}, 0.01));
  }
  for (int64_t l = 0; l < layers; ++l) {
    const std::string p = "visual.transformer." + std::to_string(l) + ".";
    for (const char* n : {"norm1", "norm2"}) {
      t.emplace_back(p + n + ".weight", ones({D}));
      t.emplace_back(p + n + ".bias", random({D}, 0.01));
    }
    conv(t, p + "attn.to_qkv", {3 * D, D});
    conv(t, p + "attn.proj", {D, D});
    conv(t, p + "mlp.0", {4 * D, D});
    conv(t, p + "mlp.2", {D, 4 * D});
  }
  return t;
}

nlohmann::json stats(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {{"median", ms[ms.size() / 2]}, {"min", ms.front()}, {"max", ms.back()}, {"n", ms.size()}};
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) try {
  wl::app::Args args(argc - 1, argv + 1, {"size", "vae-dim", "clip-dim", "clip-layers", "repeats"}, {"skip-clip", "skip-vae"});
  long long H = 352, W = 640;
  if (std::sscanf(args.get("size", "352x640").c_str(), "%lldx%lld", &H, &W) != 2 || H < 8 || W < 8 || H % 8 || W % 8)
    throw wl::Error("--size must be HxW, multiples of 8");
  const int repeats = static_cast<int>(std::max(1LL, args.get_int("repeats", 3)));
  const std::string dir = (std::filesystem::temp_directory_path() / ("wl_bench_enc_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  nlohmann::json out = {{"bench", "encoders"},
                        {"cpu", wl::ops::describe_cpu(wl::ops::MatmulPrecision::F32)},
                        {"timed", "one encoder call each (weights loaded before timing)"},
                        {"size", {H, W}}};
  if (!args.has("skip-vae")) {
    const int64_t d = args.get_int("vae-dim", 96);
    write_safetensors(dir + "/vae.safetensors", vae_weights(d));
    const wl::WanVaeEncoder vae(wl::WeightMap::open(dir + "/vae.safetensors"));
    std::vector<double> first, later;
    for (int r = 0; r < repeats; ++r) {
      wl::WanVaeEncoder::Stream s;
      auto t0 = Clock::now();
      vae.encode_call(random({1, 3, H, W}, 0.5), s);
      first.push_back(ms_since(t0));
      t0 = Clock::now();
      vae.encode_call(random({4, 3, H, W}, 0.5), s);
      later.push_back(ms_since(t0));
    }
    out["vae_encoder"] = {{"dim", d}, {"first_call_1_frame_ms", stats(first)}, {"call_4_frames_ms", stats(later)},
                          {"ms_per_pixel_frame", stats([&] { std::vector<double> v; for (double x : later) v.push_back(x / 4); return v; }())}};
  }
  if (!args.has("skip-clip")) {
    const int64_t D = args.get_int("clip-dim", 1280), L = args.get_int("clip-layers", 32);
    if (D % 80) throw wl::Error("--clip-dim must be a multiple of 80 (head width 80)");
    write_safetensors(dir + "/clip.safetensors", clip_weights(D, L));
    for (auto precision : {wl::ops::MatmulPrecision::F32, wl::ops::MatmulPrecision::BF16}) {
      const wl::ClipVision clip(wl::WeightMap::open(dir + "/clip.safetensors"), precision);
      const wl::Tensor pixels = random({3, 224, 224}, 1.0);
      std::vector<double> ms;
      for (int r = 0; r < repeats; ++r) {
        const auto t0 = Clock::now();
        clip.forward(pixels);
        ms.push_back(ms_since(t0));
      }
      out[std::string("clip_") + wl::ops::precision_name(precision)] = {{"dim", D}, {"blocks_run", L - 1}, {"forward_ms", stats(ms)}};
    }
  }
  std::filesystem::remove_all(dir);
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_encoders: %s\n", e.what());
  return 1;
}
