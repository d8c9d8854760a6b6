// The pixel decoders on the CPU (runtime/model/wan_vae_decoder.h,
// taehv_decoder.h), with random weights of the published shapes (Wan 2.1 VAE
// d = 96, taew2_1 n_f = 256, 128, 64, 64). Prints one JSON object.
//
// Timed: steady-state streaming calls (after a first call that fills the
// caches), weights loaded before timing; ms per output frame and the GFLOP/s
// the call achieved (FLOPs counted from the layer table of specs/decoders.md,
// 2 per multiply-add). Median, min and max over --repeats; the VAE at 832x480
// runs once unless --repeats-large says otherwise (it takes about a minute).
//
//   build/bench/bench_decoders [--sizes 480x832,256x256,64x64] [--repeats 5] [--repeats-large 1]
//                              [--latents-per-call 3] [--skip-vae] [--skip-taehv]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "app/cli/args.h"
#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/taehv_decoder.h"
#include "runtime/model/wan_vae_decoder.h"

namespace {

using Clock = std::chrono::steady_clock;
using Named = std::vector<std::pair<std::string, wl::Tensor>>;

std::mt19937 rng(4321);

wl::Tensor random(const wl::Shape& shape, double scale) {
  std::normal_distribution<float> n(0.0f, static_cast<float>(scale));
  std::vector<float> v(static_cast<size_t>(wl::shape_numel(shape)));
  for (float& x : v) x = n(rng);
  return wl::Tensor::from_floats(v, shape);
}

wl::Tensor ones(const wl::Shape& shape) {
  return wl::Tensor::from_floats(std::vector<float>(static_cast<size_t>(wl::shape_numel(shape)), 1.0f), shape);
}

// A conv [out, in, k...] with 1/sqrt(fan_in) weights; small biases unless `bias` is false.
void conv(Named& t, const std::string& name, wl::Shape shape, bool bias = true) {
  int64_t fan_in = 1;
  for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
  t.emplace_back(name + ".weight", random(shape, 1.0 / std::sqrt(static_cast<double>(fan_in))));
  if (bias) t.emplace_back(name + ".bias", random({shape[0]}, 0.01));
}

void res_block(Named& t, const std::string& p, int64_t in, int64_t out) {
  t.emplace_back(p + "residual.0.gamma", ones({in, 1, 1, 1}));
  conv(t, p + "residual.2", {out, in, 3, 3, 3});
  t.emplace_back(p + "residual.3.gamma", ones({out, 1, 1, 1}));
  conv(t, p + "residual.6", {out, out, 3, 3, 3});
  if (in != out) conv(t, p + "shortcut", {out, in, 1, 1, 1});
}

// Decoder3d's keys (specs/decoders.md §1.3) at width d.
Named vae_weights(int64_t d) {
  Named t;
  const int64_t m = 4 * d;
  conv(t, "conv2", {16, 16, 1, 1, 1});
  conv(t, "decoder.conv1", {m, 16, 3, 3, 3});
  res_block(t, "decoder.middle.0.", m, m);
  t.emplace_back("decoder.middle.1.norm.gamma", ones({m, 1, 1}));
  conv(t, "decoder.middle.1.to_qkv", {3 * m, m, 1, 1});
  conv(t, "decoder.middle.1.proj", {m, m, 1, 1});
  res_block(t, "decoder.middle.2.", m, m);
  const int64_t in_of_level[4] = {m, 2 * d, 2 * d, d}, out_of_level[4] = {m, m, 2 * d, d};
  int i = 0;
  for (int level = 0; level < 4; ++level) {
    for (int r = 0; r < 3; ++r)
      res_block(t, "decoder.upsamples." + std::to_string(i++) + ".", r ? out_of_level[level] : in_of_level[level],
                out_of_level[level]);
    if (level == 3) break;
    const std::string p = "decoder.upsamples." + std::to_string(i++) + ".";
    const int64_t c = out_of_level[level];
    conv(t, p + "resample.1", {c / 2, c, 3, 3});
    if (level < 2) conv(t, p + "time_conv", {2 * c, c, 3, 1, 1});
  }
  t.emplace_back("decoder.head.0.gamma", ones({d, 1, 1, 1}));
  conv(t, "decoder.head.2", {3, d, 3, 3, 3});
  return t;
}

// taew2_1's decoder keys (specs/decoders.md §2.2).
Named taehv_weights(const std::vector<int64_t>& n) {
  Named t;
  conv(t, "decoder.1", {n[0], 16, 3, 3});
  auto mem = [&](int i, int64_t c) {
    conv(t, "decoder." + std::to_string(i) + ".conv.0", {c, 2 * c, 3, 3});
    conv(t, "decoder." + std::to_string(i) + ".conv.2", {c, c, 3, 3});
    conv(t, "decoder." + std::to_string(i) + ".conv.4", {c, c, 3, 3});
  };
  for (int i : {3, 4, 5}) mem(i, n[0]);
  conv(t, "decoder.7.conv", {n[0], n[0], 1, 1}, false);
  conv(t, "decoder.8", {n[1], n[0], 3, 3}, false);
  for (int i : {9, 10, 11}) mem(i, n[1]);
  conv(t, "decoder.13.conv", {2 * n[1], n[1], 1, 1}, false);
  conv(t, "decoder.14", {n[2], n[1], 3, 3}, false);
  for (int i : {15, 16, 17}) mem(i, n[2]);
  conv(t, "decoder.19.conv", {2 * n[2], n[2], 1, 1}, false);
  conv(t, "decoder.20", {n[3], n[2], 3, 3}, false);
  conv(t, "decoder.22", {3, n[3], 3, 3});
  return t;
}

// FLOPs of one steady-state VAE decoder call (one latent frame -> 4 pixel
// frames) at latent size h x w: 2 per multiply-add of every convolution and
// of the attention's two products.
double vae_flops_per_latent(int64_t d, int64_t h, int64_t w) {
  const double P = static_cast<double>(h * w), m = 4.0 * d;
  auto c3 = [](double in, double out, double pixels, double frames) { return 27 * in * out * pixels * frames; };
  auto res = [&](double in, double out, double pixels, double frames) {
    return c3(in, out, pixels, frames) + c3(out, out, pixels, frames) + (in != out ? in * out * pixels * frames : 0);
  };
  double mac = 16 * 16 * P + c3(16, m, P, 1);
  mac += 2 * res(m, m, P, 1) + 4 * m * m * P + 2 * P * P * m;  // middle: 2 blocks, attention
  mac += 3 * res(m, m, P, 1);
  mac += 3 * m * 2 * m * P + 9 * m * (m / 2) * 4 * P * 2;  // upsamples.3: time_conv, then resample on 2 frames
  mac += res(m / 2, m, 4 * P, 2) + 2 * res(m, m, 4 * P, 2);
  mac += 3 * m * 2 * m * 4 * P * 2 + 9 * m * (m / 2) * 16 * P * 4;  // upsamples.7
  mac += 3 * res(2.0 * d, 2.0 * d, 16 * P, 4);
  mac += 9 * 2.0 * d * d * 64 * P * 4;  // upsamples.11
  mac += 3 * res(d, d, 64 * P, 4) + c3(d, 3, 64 * P, 4);
  return 2 * mac;
}

// FLOPs of TAEHV for one latent frame (-> 4 frames), TGrow before Upsample as the decoder runs it.
double taehv_flops_per_latent(const std::vector<int64_t>& n, int64_t h, int64_t w) {
  const double P = static_cast<double>(h * w);
  auto mem = [](double c, double pixels) { return (9 * 2 * c * c + 2 * 9 * c * c) * pixels; };
  const double n0 = n[0], n1 = n[1], n2 = n[2], n3 = n[3];
  double mac = 9 * 16 * n0 * P + 3 * mem(n0, P) + n0 * n0 * P;
  mac += 9 * n0 * n1 * 4 * P + 3 * mem(n1, 4 * P) + n1 * 2 * n1 * 4 * P;
  mac += 2 * (9 * n1 * n2 * 16 * P + 3 * mem(n2, 16 * P) + n2 * 2 * n2 * 16 * P);
  mac += 4 * (9 * n2 * n3 * 64 * P + 9 * n3 * 3 * 64 * P);
  return 2 * mac;
}

nlohmann::json stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {{"median", v[v.size() / 2]}, {"min", v.front()}, {"max", v.back()}, {"n", v.size()}};
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Times `repeats` calls of `call` (each decoding `latents` latent frames into
// 4 per latent) and reports ms per output frame and GFLOP/s.
template <class Call>
nlohmann::json time_calls(int repeats, int64_t latents, double flops_per_latent, Call&& call) {
  std::vector<double> per_frame, gflops;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    call();
    const double ms = ms_since(t0);
    per_frame.push_back(ms / (4.0 * latents));
    gflops.push_back(flops_per_latent * latents / (ms * 1e6));
  }
  const double median_ms = stats(per_frame)["median"];
  return {{"ms_per_frame", stats(per_frame)},
          {"gflop_per_s", stats(gflops)},
          {"gflop_per_frame", flops_per_latent / 4e9},
          {"frames_per_s", 1000.0 / median_ms}};
}

}  // namespace

int main(int argc, char** argv) try {
  wl::app::Args args(argc - 1, argv + 1, {"sizes", "repeats", "repeats-large", "latents-per-call"},
                     {"skip-vae", "skip-taehv"});
  std::vector<std::pair<int64_t, int64_t>> sizes;
  {
    std::stringstream ss(args.get("sizes", "480x832,256x256,64x64"));
    for (std::string item; std::getline(ss, item, ',');) {
      long long H = 0, W = 0;
      if (std::sscanf(item.c_str(), "%lldx%lld", &H, &W) != 2 || H < 8 || W < 8 || H % 8 || W % 8 || H > 4096 || W > 4096)
        throw wl::Error("--sizes: '" + item + "' must be HxW, multiples of 8");
      sizes.emplace_back(H, W);
    }
  }
  const int repeats = static_cast<int>(std::max(1LL, args.get_int("repeats", 5)));
  const int repeats_large = static_cast<int>(std::max(1LL, args.get_int("repeats-large", 1)));
  const int64_t n = std::max(1LL, args.get_int("latents-per-call", 3));
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("wl_bench_dec_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  nlohmann::json out = {
      {"bench", "decoders"},
      {"cpu", wl::ops::describe_cpu(wl::ops::MatmulPrecision::F32)},
      {"precision", "f32"},
      {"timed", "steady-state streaming decoder calls (caches filled by a first call), weights loaded before timing"},
      {"shipped_world", "assets/worlds/default is 64x64 pixels (its own decoder; 64x64 here is the Wan decoders at that size)"}};
  out["cuda"] = wl::ops::backend_available(wl::Backend::CUDA)
                    ? nlohmann::json{{"skipped", "the decoders have no CUDA path yet (CPU only)"}}
                    : nlohmann::json{{"skipped", wl::ops::backend_unavailable_reason(wl::Backend::CUDA)}};

  if (!args.has("skip-vae")) {
    const int64_t d = 96;
    write_safetensors(dir + "/vae.safetensors", vae_weights(d));
    const wl::WanVaeDecoder vae(wl::WeightMap::open(dir + "/vae.safetensors"));
    nlohmann::json rows = nlohmann::json::array();
    for (auto [H, W] : sizes) {
      const int64_t h = H / 8, w = W / 8;
      const bool large = H * W > 256 * 256;
      wl::WanVaeDecoder::Stream s;
      vae.decode_call(random({1, 16, h, w}, 1.0), s);  // the first latent: 1 frame, fills the caches
      const int64_t per_call = large ? 1 : n;
      nlohmann::json row = time_calls(large ? repeats_large : repeats, per_call, vae_flops_per_latent(d, h, w), [&] {
        vae.decode(random({per_call, 16, h, w}, 1.0), s);
      });
      row["size"] = {H, W};
      row["latents_per_call"] = per_call;
      rows.push_back(row);
    }
    out["wan_vae"] = {{"dim", d}, {"sizes", rows}};
  }
  if (!args.has("skip-taehv")) {
    const std::vector<int64_t> nf = {256, 128, 64, 64};
    write_safetensors(dir + "/taehv.safetensors", taehv_weights(nf));
    const wl::TaehvDecoder taehv(wl::WeightMap::open(dir + "/taehv.safetensors"));
    nlohmann::json rows = nlohmann::json::array();
    for (auto [H, W] : sizes) {
      const int64_t h = H / 8, w = W / 8;
      wl::TaehvDecoder::Stream s;
      taehv.decode_call(random({n, 16, h, w}, 1.0), s);
      nlohmann::json row = time_calls(repeats, n, taehv_flops_per_latent(nf, h, w), [&] {
        taehv.decode_call(random({n, 16, h, w}, 1.0), s);
      });
      row["size"] = {H, W};
      row["latents_per_call"] = n;
      rows.push_back(row);
    }
    out["taehv"] = {{"n_f", nf}, {"sizes", rows}};
  }
  std::filesystem::remove_all(dir);
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_decoders: %s\n", e.what());
  return 1;
}
