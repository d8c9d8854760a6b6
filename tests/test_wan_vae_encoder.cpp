// The Wan 2.1 VAE encoder (runtime/model/wan_vae_encoder.h) against the golden
// fixture wanvae_enc_tiny (specs/encoders.md §3, issue 23): every debug tap of
// the first two encoder calls, the raw mu/logvar and the normalised latents.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/mg2_cond_concat.h"
#include "runtime/model/wan_vae_encoder.h"
#include "tests/support/golden.h"

namespace wl {
namespace {

const std::string kWeights = test::data_path("wanvae_enc_tiny.weights.safetensors");
const std::string kCase = test::data_path("wanvae_enc_tiny.case.safetensors");

struct Fixture {
  SafetensorsFile cs = SafetensorsFile::open(kCase);
  WeightMap weights = WeightMap::open(kWeights);
  WanVaeEncoder enc{weights};
  Tensor f32(const std::string& name) const { return cs.get_f32(name); }
};

double rel(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  if (got.shape() != want.shape()) return INFINITY;
  return test::relative_l2(got, want);
}

Tensor frames(const Tensor& video, int64_t first, int64_t count) {
  const std::vector<float> all = video.to_floats();
  const int64_t per = video.numel() / video.dim(0);
  return Tensor::from_floats(std::vector<float>(all.begin() + first * per, all.begin() + (first + count) * per),
                             {count, video.dim(1), video.dim(2), video.dim(3)});
}

TEST(WanVaeEncoder, ConfigurationComesFromTheWeights) {
  Fixture f;
  EXPECT_EQ(f.enc.dim(), 8);
  EXPECT_EQ(f.enc.z_dim(), 16);
  const std::vector<float> mean = f.f32("scale.mean").to_floats(), std = f.f32("scale.std").to_floats();
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(kWanLatentMean[c], mean[static_cast<size_t>(c)]);
    EXPECT_EQ(kWanLatentStd[c], std[static_cast<size_t>(c)]);
  }
}

TEST(WanVaeEncoder, EveryTapOfTheFirstTwoCallsMatches) {
  Fixture f;
  const Tensor video = f.f32("video");
  WanVaeEncoder::Stream s;
  for (int call = 0; call < 2; ++call) {
    WanVaeEncoder::Taps taps;
    f.enc.encode_call(call == 0 ? frames(video, 0, 1) : frames(video, 1, 4), s, &taps);
    for (const char* name : {"conv1", "downsamples.2", "downsamples.5", "downsamples.8", "downsamples.10", "middle", "head.2"}) {
      const std::string key = "tap.call." + std::to_string(call) + "." + name;
      ASSERT_TRUE(taps.count(name)) << name;
      const double e = rel(taps.at(name), f.f32(key));
      EXPECT_LT(e, 1e-5) << key << " rel L2 " << e;
    }
  }
}

TEST(WanVaeEncoder, LatentsOfTheWholeClipMatch) {
  Fixture f;
  Tensor mu, logvar;
  const Tensor latents = f.enc.encode(f.f32("video"), &mu, &logvar);
  const double e = rel(latents, f.f32("latents"));
  std::printf("  wanvae_enc_tiny: latents rel L2 %.3g (reference f32: %s)\n", e,
              f.cs.metadata().at("fp32_reference_rel_l2").c_str());
  EXPECT_LT(e, 1e-5);
  EXPECT_LT(rel(mu, f.f32("raw.mu")), 1e-5);
  EXPECT_LT(rel(logvar, f.f32("raw.logvar")), 1e-5);
}

TEST(WanVaeEncoder, APrefixEncodesToTheSameLatents) {
  // Causal: frames 0..4 give latents 0..1 exactly as the whole clip does, and
  // frames beyond 1 + 4k are dropped (8 frames give 2 latents).
  Fixture f;
  const Tensor all = f.enc.encode(f.f32("video"));
  const Tensor prefix = f.enc.encode(frames(f.f32("video"), 0, 5));
  const Tensor eight = f.enc.encode(frames(f.f32("video"), 0, 8));
  ASSERT_EQ(prefix.dim(0), 2);
  ASSERT_EQ(eight.dim(0), 2);
  const std::vector<float> a = all.to_floats(), p = prefix.to_floats();
  EXPECT_EQ(std::vector<float>(a.begin(), a.begin() + static_cast<int64_t>(p.size())), p);
  EXPECT_EQ(eight.to_floats(), p);
}

TEST(WanVaeEncoder, CachesCarryTheFirstFrameIntoTheNextCall) {
  // Call 1 depends on frame 0 through the carried caches: the same four
  // frames after another first frame give another latent.
  Fixture f;
  const Tensor video = f.f32("video");
  WanVaeEncoder::Stream carried, other;
  f.enc.encode_call(frames(video, 0, 1), carried);
  f.enc.encode_call(frames(video, 4, 1), other);  // another first frame
  const Tensor a = f.enc.encode_call(frames(video, 1, 4), carried);
  const Tensor b = f.enc.encode_call(frames(video, 1, 4), other);
  EXPECT_GT(test::relative_l2(b, a), 1e-3) << "the caches should carry the first frame into call 1";
}

TEST(WanVaeEncoder, BadInputsGetNamedErrors) {
  Fixture f;
  WanVaeEncoder::Stream s;
  try {
    f.enc.encode_call(Tensor::zeros({4, 3, 32, 48}), s);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the first call takes 1 frame"), std::string::npos) << e.what();
  }
  f.enc.encode_call(Tensor::zeros({1, 3, 32, 48}), s);
  EXPECT_THROW(f.enc.encode_call(Tensor::zeros({4, 3, 16, 48}), s), Error);  // size changed mid-stream
  EXPECT_THROW(f.enc.encode(Tensor::zeros({3, 4, 32, 48})), Error);
  const std::string path = test::temp_dir() + "/no_encoder.safetensors";
  write_safetensors(path, {{"decoder.conv1.weight", Tensor::zeros({4, 16, 3, 3, 3})}});
  try {
    WanVaeEncoder bad(WeightMap::open(path));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoder.conv1.weight"), std::string::npos) << e.what();
  }
}


// ---- MG2's cond_concat ------------------------------------------------------------------------

TEST(Mg2CondConcat, MaskFirstThenTheLatentsOfTheFrameFollowedByGrey) {
  Fixture f;
  const Tensor frame = frames(f.f32("video"), 0, 1).reshape({3, 32, 48});
  const int64_t F = 3;
  const Tensor cond = mg2_cond_concat(f.enc, frame, F);  // [3, 20, 4, 6]
  ASSERT_EQ(cond.shape(), (Shape{F, 20, 4, 6}));
  // The same video built by hand: the frame, then 4(F-1) frames of exactly 0.0.
  std::vector<float> video(static_cast<size_t>((1 + 4 * (F - 1)) * 3 * 32 * 48), 0.0f);
  const std::vector<float> fr = frame.to_floats();
  std::copy(fr.begin(), fr.end(), video.begin());
  const Tensor latents = f.enc.encode(Tensor::from_floats(video, {1 + 4 * (F - 1), 3, 32, 48}));  // [3, 16, 4, 6]
  const std::vector<float> c = cond.to_floats(), l = latents.to_floats();
  const int64_t P = 24;
  for (int64_t t = 0; t < F; ++t) {
    for (int64_t k = 0; k < 4 * P; ++k) EXPECT_EQ(c[static_cast<size_t>(t * 20 * P + k)], t == 0 ? 1.0f : 0.0f);
    for (int64_t k = 0; k < 16 * P; ++k)
      EXPECT_EQ(c[static_cast<size_t>(t * 20 * P + 4 * P + k)], l[static_cast<size_t>(t * 16 * P + k)]);
  }
  // Grey latents are not zero.
  double grey = 0.0;
  for (int64_t k = 0; k < 16 * P; ++k) grey += std::fabs(c[static_cast<size_t>(2 * 20 * P + 4 * P + k)]);
  EXPECT_GT(grey, 1e-2);
}

TEST(Mg2CondConcat, TheGreyContinuationIsConstantFromLatent29) {
  // 35 latent frames: the helper encodes 30 and repeats the last; encoding
  // all 137 pixel frames gives the same rows to f32 rounding.
  Fixture f;
  const Tensor frame = frames(f.f32("video"), 0, 1).reshape({3, 32, 48});
  const int64_t F = 35, P = 24;
  const Tensor cond = mg2_cond_concat(f.enc, frame, F);
  std::vector<float> video(static_cast<size_t>((1 + 4 * (F - 1)) * 3 * 32 * 48), 0.0f);
  const std::vector<float> fr = frame.to_floats();
  std::copy(fr.begin(), fr.end(), video.begin());
  const std::vector<float> full = f.enc.encode(Tensor::from_floats(video, {1 + 4 * (F - 1), 3, 32, 48})).to_floats();
  const std::vector<float> c = cond.to_floats();
  double worst = 0.0, scale = 0.0;
  for (int64_t t = 29; t < F; ++t)
    for (int64_t k = 0; k < 16 * P; ++k) {
      worst = std::max(worst, std::fabs(static_cast<double>(c[static_cast<size_t>(t * 20 * P + 4 * P + k)]) -
                                        full[static_cast<size_t>(t * 16 * P + k)]));
      scale = std::max(scale, std::fabs(static_cast<double>(full[static_cast<size_t>(t * 16 * P + k)])));
    }
  EXPECT_LT(worst, 1e-5 * std::max(1.0, scale)) << "max abs " << worst;
  // ...and early latents do move (the shortcut only holds from 29).
  double early = 0.0;
  for (int64_t k = 0; k < 16 * P; ++k)
    early = std::max(early, std::fabs(static_cast<double>(full[static_cast<size_t>(1 * 16 * P + k)]) - full[static_cast<size_t>(2 * 16 * P + k)]));
  EXPECT_GT(early, 1e-3);
}

TEST(Mg2CondConcat, BadFramesGetNamedErrors) {
  Fixture f;
  EXPECT_THROW(mg2_cond_concat(f.enc, Tensor::zeros({3, 44, 80}), 2), Error);   // 44 is not a multiple of 8
  EXPECT_THROW(mg2_cond_concat(f.enc, Tensor::zeros({3, 360, 640}), 2), Error);  // more than one tile
  EXPECT_THROW(mg2_cond_concat(f.enc, Tensor::zeros({3, 32, 48}), 0), Error);
}


// ---- worldloop encode -------------------------------------------------------------------------

TEST(EncodeCommand, AVideoCaseThroughTheVaeMatchesTheFixture) {
  Fixture f;
  const std::string out = test::temp_dir() + "/vae.safetensors";
  std::string log;
  ASSERT_EQ(test::run_worldloop("encode --weights " + kWeights + " --case " + kCase + " --out " + out, &log), 0) << log;
  const SafetensorsFile o = SafetensorsFile::open(out);
  for (const std::string& name : f.cs.names())
    if (name != "video" && name.rfind("scale.", 0) != 0) {
      ASSERT_TRUE(o.has(name)) << name;
      EXPECT_LT(rel(o.get_f32(name), f.f32(name)), 1e-5) << name;
    }
  EXPECT_TRUE(o.has("tap.call.2.head.2")) << "every call's taps are written";
}

TEST(EncodeCommand, ClipAndVaeGiveMg2sTwoConditioningInputs) {
  Fixture f;
  const std::string dir = test::temp_dir();
  // A 48x32 start image as a PPM: the fixture's first frame in uint8.
  const std::vector<float> fr = frames(f.f32("video"), 0, 1).to_floats();  // [3, 32, 48]
  std::vector<uint8_t> rgb(32 * 48 * 3);
  for (int64_t p = 0; p < 32 * 48; ++p)
    for (int c = 0; c < 3; ++c)
      rgb[static_cast<size_t>(p * 3 + c)] =
          static_cast<uint8_t>(std::lround(std::clamp((fr[static_cast<size_t>(c * 32 * 48 + p)] + 1.0f) * 127.5f, 0.0f, 255.0f)));
  {
    std::ofstream ppm(dir + "/start.ppm", std::ios::binary);
    ppm << "P6\n48 32\n255\n";
    ppm.write(reinterpret_cast<const char*>(rgb.data()), static_cast<std::streamsize>(rgb.size()));
  }
  std::string log;
  ASSERT_EQ(test::run_worldloop("encode --weights " + test::data_path("clip_vit_tiny.weights.safetensors") + " --vae " +
                                    kWeights + " --latent-frames 4 --image " + dir + "/start.ppm --size 32x48 --out " +
                                    dir + "/mg2.safetensors", &log), 0) << log;
  const SafetensorsFile o = SafetensorsFile::open(dir + "/mg2.safetensors");
  const Tensor cond = o.get_f32("cond_concat");
  ASSERT_EQ(cond.shape(), (Shape{4, 20, 4, 6}));
  const Tensor want = mg2_cond_concat(f.enc, o.get_f32("frame"), 4);
  EXPECT_EQ(cond.to_floats(), want.to_floats());
  EXPECT_EQ(o.get_f32("visual_context").to_floats(), o.get_f32("tokens").to_floats());
  EXPECT_EQ(o.metadata().at("latent_frames"), "4");
}

}  // namespace
}  // namespace wl
