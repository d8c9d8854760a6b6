// TAEHV's decoder (runtime/model/taehv_decoder.h) against the golden fixture
// taehv_tiny (specs/decoders.md §2, §3) and the project's own demo-window case
// taehv_tiny_block3 (tools/fixtures/make_decoder_cases.py, written from the
// spec): the debug taps, the untrimmed and trimmed video, carried memories
// under any split, the demo windows, bad files and memory over a long stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/latent_video_decoder.h"
#include "runtime/model/taehv_decoder.h"
#include "runtime/model/wan_vae_blocks.h"
#include "tests/support/golden.h"

namespace wl {
namespace {

const std::string kWeights = test::data_path("taehv_tiny.weights.safetensors");
const std::string kCase = test::data_path("taehv_tiny.case.safetensors");
const std::string kBlock3 = test::data_path("taehv_tiny_block3.case.safetensors");

double rel(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  if (got.shape() != want.shape()) return INFINITY;
  return test::relative_l2(got, want);
}

Tensor to_unit(const Tensor& raw) {  // raw * 2 - 1, as the demo and LatentVideoDecoder show it
  Tensor t = raw.clone();  // the case's tensors map the file read-only
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = t.f32()[i] * 2.0f - 1.0f;
  return t;
}

Tensor concat(const std::vector<Tensor>& parts) {
  Tensor out = parts.at(0);
  for (size_t i = 1; i < parts.size(); ++i) out = wan_vae::concat_frames(out, parts[i]);
  return out;
}

TEST(TaehvDecoder, ConfigurationComesFromTheWeights) {
  const WeightMap w = WeightMap::open(kWeights);
  const TaehvDecoder dec(w);
  EXPECT_EQ(dec.widths(), (std::vector<int64_t>{32, 24, 16, 12}));
  EXPECT_EQ(dec.latent_channels(), 16);
  EXPECT_EQ(dec.frames_per_latent(), 4);
  EXPECT_EQ(dec.frames_to_trim(), 3);
  EXPECT_EQ(detect_latent_decoder(w), LatentDecoderKind::Taehv);
}

TEST(TaehvDecoder, EveryTapOfTheFirstTwoLatentsMatches) {
  const SafetensorsFile cs = SafetensorsFile::open(kCase);
  const WeightMap w = WeightMap::open(kWeights);
  const TaehvDecoder dec(w);
  TaehvDecoder::Stream s;
  TaehvDecoder::Taps taps;
  dec.decode_call(wan_vae::frames_of(cs.get_f32("latents"), 0, 2), s, &taps);
  for (int n : {0, 5, 7, 11, 13, 17, 19}) {
    const std::string key = "tap.decoder." + std::to_string(n);
    ASSERT_TRUE(taps.count(n)) << key;
    const double e = rel(taps.at(n), cs.get_f32(key));
    EXPECT_LT(e, 1e-5) << key << " rel L2 " << e;
  }
}

// Carried memories are exact: the whole video at once, one latent per call or
// 2 + 3 give the fixture's untrimmed video.
TEST(TaehvDecoder, StreamedVideoMatchesUnderAnySplit) {
  const SafetensorsFile cs = SafetensorsFile::open(kCase);
  const WeightMap w = WeightMap::open(kWeights);
  const TaehvDecoder dec(w);
  const Tensor latents = cs.get_f32("latents");  // [5, 16, 4, 6]
  const Tensor want = cs.get_f32("video.untrimmed");
  for (int64_t per : {5, 1, 2, 3}) {
    TaehvDecoder::Stream s;
    std::vector<Tensor> parts;
    for (int64_t t = 0; t < latents.dim(0); t += per)
      parts.push_back(dec.decode_call(wan_vae::frames_of(latents, t, std::min(per, latents.dim(0) - t)), s));
    const double e = rel(concat(parts), want);
    EXPECT_LT(e, 1e-5) << per << " latents per call: rel L2 " << e;
    if (per == 5)
      std::printf("  taehv_tiny: video.untrimmed rel L2 %.3g (reference f32: %s)\n", e,
                  cs.metadata().at("fp32_reference_rel_l2").c_str());
  }
  LatentVideoDecoder d(w);
  const Tensor a = d.push(wan_vae::frames_of(latents, 0, 3)), b = d.push(wan_vae::frames_of(latents, 3, 2));
  EXPECT_EQ(a.dim(0), 9);
  EXPECT_LT(rel(concat({a, b}), to_unit(cs.get_f32("video.pixels"))), 1e-5);
}

// The demo's windows: calls 0 and 1 equal the carried decode; from call 2 on
// the truncated context changes the pixels.
TEST(TaehvDecoder, DemoWindowsMatchTheirCase) {
  const SafetensorsFile cs = SafetensorsFile::open(kBlock3);
  const WeightMap w = WeightMap::open(kWeights);
  const TaehvDecoder dec(w);
  const Tensor latents = cs.get_f32("latents");  // [9, 16, 3, 5]
  const Tensor carried = to_unit(cs.get_f32("video.untrimmed"));  // [36, 3, 24, 40]
  TaehvDecoder::Stream s;
  EXPECT_LT(rel(dec.decode_call(latents, s), cs.get_f32("video.untrimmed")), 1e-5);
  LatentVideoDecoder demo(w, {true});
  for (int call = 0; call < 3; ++call) {
    const Tensor px = demo.push(wan_vae::frames_of(latents, 3 * call, 3));
    const std::string key = "demo.call." + std::to_string(call) + ".pixels";
    EXPECT_LT(rel(px, cs.get_f32(key)), 1e-5) << key;
    const Tensor same_frames = wan_vae::frames_of(carried, call == 0 ? 3 : 12 * call, px.dim(0));
    if (call < 2)
      EXPECT_LT(rel(px, same_frames), 1e-5) << "call " << call << " should equal the carried decode";
    else
      EXPECT_GT(rel(px, same_frames), 1e-4) << "call 2's truncated context should change its pixels";
  }
}

TEST(TaehvDecoder, TruncatedOrMismatchedFilesGetNamedErrors) {
  const std::string dir = test::temp_dir();
  std::vector<std::pair<std::string, Tensor>> tensors;
  const SafetensorsFile src = SafetensorsFile::open(kWeights);
  for (const std::string& name : src.names()) {
    Tensor t = src.get_f32(name);
    if (name == "decoder.9.conv.0.weight") t = Tensor::zeros({24, 24, 3, 3});  // should be [n1, 2 n1, 3, 3]
    tensors.emplace_back(name, t);
  }
  const std::string wrong = dir + "/wrong_memblock.safetensors";
  write_safetensors(wrong, tensors, {});
  try {
    const WeightMap w = WeightMap::open(wrong);
    TaehvDecoder dec(w);
    FAIL() << "no error for a wrong MemBlock shape";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(wrong), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("decoder.9.conv.0.weight"), std::string::npos) << e.what();
  }
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [](const auto& p) { return p.first == "decoder.14.weight"; }),
                tensors.end());
  const std::string missing = dir + "/missing.safetensors";
  write_safetensors(missing, tensors, {});
  try {
    const WeightMap w = WeightMap::open(missing);
    TaehvDecoder dec(w);
    FAIL() << "no error for a missing layer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
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

TEST(TaehvDecoder, MemoryStaysFlatOverAThousandLatents) {
  const WeightMap w = WeightMap::open(kWeights);
  for (bool demo : {false, true}) {
    LatentVideoDecoder d(w, {demo});
    const Tensor latent = Tensor::from_floats(std::vector<float>(16 * 2 * 2, 0.3f), {1, 16, 2, 2});
    int64_t warm = 0, frames = 0;
    for (int i = 0; i < 1000; ++i) {
      frames += d.push(latent).dim(0);
      if (i == 100) warm = resident_bytes();
    }
    const int64_t end = resident_bytes();
    std::printf("  TAEHV %s: resident %.1f MB after 100 latents, %.1f MB after 1000\n", demo ? "demo" : "carried",
                warm / 1e6, end / 1e6);
    EXPECT_EQ(frames, 1 + 4 * 999);
    EXPECT_LT(end - warm, 8 << 20);
  }
}

}  // namespace
}  // namespace wl
