// The Wan 2.1 VAE decoder (runtime/model/wan_vae_decoder.h) against the golden
// fixture wanvae_tiny (specs/decoders.md §1, §3) and the project's own demo
// semantics case wanvae_tiny_chunk3 (made by tools/fixtures/make_decoder_cases.py
// from the spec, independently of this code): every streamed call, every debug
// tap of calls 0-2, the whole-video decode, chunking, the demo semantics, bad
// files and memory over a long stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/latent_video_decoder.h"
#include "runtime/model/wan_vae_blocks.h"
#include "runtime/model/wan_vae_decoder.h"
#include "runtime/model/wan_vae_encoder.h"
#include "tests/support/golden.h"

namespace wl {
namespace {

const std::string kWeights = test::data_path("wanvae_tiny.weights.safetensors");
const std::string kCase = test::data_path("wanvae_tiny.case.safetensors");
const std::string kChunk3 = test::data_path("wanvae_tiny_chunk3.case.safetensors");

struct Fixture {
  SafetensorsFile cs = SafetensorsFile::open(kCase);
  WeightMap weights = WeightMap::open(kWeights);
  WanVaeDecoder dec{weights};
  Tensor f32(const std::string& name) const { return cs.get_f32(name); }
};

double rel(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  if (got.shape() != want.shape()) return INFINITY;
  return test::relative_l2(got, want);
}

double max_abs(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return INFINITY;
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, double(std::fabs(a.f32()[i] - b.f32()[i])));
  return m;
}

Tensor concat(const std::vector<Tensor>& parts) {
  Tensor out = parts.at(0);
  for (size_t i = 1; i < parts.size(); ++i) out = wan_vae::concat_frames(out, parts[i]);
  return out;
}

Tensor clamped(Tensor t) {
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = std::clamp(t.f32()[i], -1.0f, 1.0f);
  return t;
}

TEST(WanVaeDecoder, ConfigurationComesFromTheWeights) {
  Fixture f;
  EXPECT_EQ(f.dec.dim(), 8);
  EXPECT_EQ(f.dec.z_dim(), 16);
  const std::vector<float> mean = f.f32("scale.mean").to_floats(), std = f.f32("scale.std").to_floats();
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(kWanLatentMean[c], mean[static_cast<size_t>(c)]);
    EXPECT_EQ(kWanLatentStd[c], std[static_cast<size_t>(c)]);
  }
}

TEST(WanVaeDecoder, EveryStreamedCallAndTapMatches) {
  Fixture f;
  const Tensor latents = f.f32("latents");  // [5, 16, 4, 6]
  WanVaeDecoder::Stream s;
  for (int64_t call = 0; call < latents.dim(0); ++call) {
    WanVaeDecoder::Taps taps;
    const Tensor raw = f.dec.decode_call(wan_vae::frames_of(latents, call, 1), s, &taps);
    const std::string key = "stream.call." + std::to_string(call) + ".pixels";
    const double e = rel(clamped(raw), f.f32(key));
    EXPECT_LT(e, 1e-5) << key << " rel L2 " << e;
    if (call > 2) continue;
    for (const char* name :
         {"z_denorm", "conv1", "middle", "upsamples.3", "upsamples.7", "upsamples.11", "upsamples.14", "head.2"}) {
      const std::string tk = "tap.call." + std::to_string(call) + "." + name;
      ASSERT_TRUE(taps.count(name)) << name;
      const double et = rel(taps.at(name), f.f32(tk));
      EXPECT_LT(et, 1e-5) << tk << " rel L2 " << et;
    }
  }
  EXPECT_EQ(s.calls, 5);
}

TEST(WanVaeDecoder, WholeVideoMatchesBeforeAndAfterTheClamp) {
  Fixture f;
  WanVaeDecoder::Stream s;
  Tensor raw;
  const Tensor px = f.dec.decode(f.f32("latents"), s, &raw);  // [17, 3, 32, 48]
  const double e = rel(px, f.f32("video.pixels")), er = rel(raw, f.f32("video.raw"));
  std::printf("  wanvae_tiny: video.pixels rel L2 %.3g, video.raw %.3g (reference f32: %s)\n", e, er,
              f.cs.metadata().at("pipeline.fp32_reference_rel_l2").c_str());
  EXPECT_LT(e, 1e-5);
  EXPECT_LT(er, 1e-5);
}

// Pipeline semantics stream exactly: one, three or all latents per push give
// the same pixels, bit for bit.
TEST(WanVaeDecoder, PipelinePixelsDoNotDependOnTheSplit) {
  Fixture f;
  const Tensor latents = f.f32("latents");
  auto run = [&](int64_t per_push) {
    LatentVideoDecoder d(f.weights);
    std::vector<Tensor> parts;
    for (int64_t t = 0; t < latents.dim(0); t += per_push)
      parts.push_back(d.push(wan_vae::frames_of(latents, t, std::min(per_push, latents.dim(0) - t))));
    return concat(parts);
  };
  const Tensor whole = run(latents.dim(0));
  EXPECT_EQ(whole.dim(0), 17);
  EXPECT_EQ(max_abs(run(1), whole), 0.0);
  EXPECT_EQ(max_abs(run(3), whole), 0.0);
  EXPECT_LT(rel(whole, f.f32("video.pixels")), 1e-5);
}

// The demo semantics: 4 frames for every latent (the first 3 dropped) and
// different pixels everywhere, because latent 0 goes through time_conv.
TEST(WanVaeDecoder, DemoSemanticsDifferFromThePipeline) {
  Fixture f;
  const Tensor latents = f.f32("latents");
  LatentVideoDecoder demo(f.weights, {true});
  const Tensor a = demo.push(wan_vae::frames_of(latents, 0, 3));  // 12 - 3 frames
  const Tensor b = demo.push(wan_vae::frames_of(latents, 3, 2));  // 8
  ASSERT_EQ(a.dim(0), 9);
  ASSERT_EQ(b.dim(0), 8);
  const Tensor pipe = f.f32("video.pixels");
  const double e = rel(concat({a, b}), pipe);
  EXPECT_GT(e, 0.05) << "demo and pipeline semantics should differ";
  for (int64_t t = 0; t < 9; ++t) EXPECT_GT(rel(wan_vae::frames_of(a, t, 1), wan_vae::frames_of(pipe, t, 1)), 1e-3) << t;
}

// wanvae_tiny_chunk3: odd latent size, three latents per call, demo semantics.
TEST(WanVaeDecoder, DemoCaseWithThreeLatentsPerCallMatches) {
  const SafetensorsFile cs = SafetensorsFile::open(kChunk3);
  const WeightMap weights = WeightMap::open(kWeights);
  const WanVaeDecoder dec(weights);
  const Tensor latents = cs.get_f32("latents");  // [6, 16, 3, 5]
  WanVaeDecoder::Stream s(VaeStreamSemantics::Demo);
  for (int call = 0; call < 2; ++call) {
    Tensor raw;
    dec.decode(wan_vae::frames_of(latents, 3 * call, 3), s, &raw);  // [12, 3, 24, 40]
    const std::string k = "demo.call." + std::to_string(call);
    EXPECT_LT(rel(raw, cs.get_f32(k + ".raw_untrimmed")), 1e-5) << k;
  }
  LatentVideoDecoder demo(weights, {true});
  for (int call = 0; call < 2; ++call) {
    const std::string k = "demo.call." + std::to_string(call) + ".pixels";
    EXPECT_LT(rel(demo.push(wan_vae::frames_of(latents, 3 * call, 3)), cs.get_f32(k)), 1e-5) << k;
  }
  LatentVideoDecoder pipe(weights);
  EXPECT_LT(rel(pipe.push(latents), cs.get_f32("pipeline.video.pixels")), 1e-5);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void expect_error_naming(const std::string& path, const std::string& what) {
  try {
    const WeightMap w = WeightMap::open(path);
    LatentVideoDecoder d(w);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(WanVaeDecoder, TruncatedOrMismatchedFilesGetNamedErrors) {
  const std::string dir = test::temp_dir();
  const std::string bytes = read_bytes(kWeights);
  const std::string truncated = dir + "/truncated.safetensors";
  write_bytes(truncated, bytes.substr(0, bytes.size() / 2));
  expect_error_naming(truncated, "");

  // A DiT's weights are neither decoder.
  expect_error_naming(test::data_path("wanvae_enc_tiny.weights.safetensors"), "neither");

  // One tensor of the wrong shape: drop a layer's weight by renaming it.
  std::vector<std::pair<std::string, Tensor>> tensors;
  const SafetensorsFile src = SafetensorsFile::open(kWeights);
  for (const std::string& name : src.names()) {
    Tensor t = src.get_f32(name);
    if (name == "decoder.upsamples.4.shortcut.weight") t = Tensor::zeros({32, 16, 1, 1, 2});
    tensors.emplace_back(name, t);
  }
  const std::string wrong = dir + "/wrong_shape.safetensors";
  write_safetensors(wrong, tensors, {});
  expect_error_naming(wrong, "decoder.upsamples.4.shortcut.weight");

  // A latent of the wrong channel count names the decoder's file.
  const WeightMap w = WeightMap::open(kWeights);
  WanVaeDecoder dec(w);
  WanVaeDecoder::Stream s;
  try {
    dec.decode_call(Tensor::zeros({1, 8, 2, 2}), s);
    FAIL() << "no error for 8 latent channels";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(kWeights), std::string::npos) << e.what();
  }
}

int64_t resident_bytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<int64_t>(resident) * 4096;
}

// 1,000 streamed latent frames: the caches keep 2 frames per convolution and
// nothing else grows.
TEST(WanVaeDecoder, MemoryStaysFlatOverAThousandLatents) {
  const WeightMap w = WeightMap::open(kWeights);
  LatentVideoDecoder d(w);
  const Tensor latent = Tensor::from_floats(std::vector<float>(16 * 2 * 2, 0.3f), {1, 16, 2, 2});
  int64_t warm = 0, frames = 0;
  for (int i = 0; i < 1000; ++i) {
    frames += d.push(latent).dim(0);
    if (i == 100) warm = resident_bytes();
  }
  const int64_t end = resident_bytes();
  std::printf("  VAE stream: resident %.1f MB after 100 latents, %.1f MB after 1000\n", warm / 1e6, end / 1e6);
  EXPECT_EQ(frames, 1 + 4 * 999);
  EXPECT_LT(end - warm, 8 << 20);
}

}  // namespace
}  // namespace wl
