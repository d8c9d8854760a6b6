// MG2's start image and CLIP vision tower (runtime/model/start_image.h,
// runtime/model/clip_vision.h) against the golden fixture clip_vit_tiny
// (specs/encoders.md §1-§2, issue 23): the crop box and the Pillow bilinear
// resize bit for bit, then every tap of the transformer.
#include <gtest/gtest.h>

#include <cstdio>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/clip_vision.h"
#include "runtime/model/start_image.h"
#include "tests/support/golden.h"

namespace wl {
namespace {

const std::string kWeights = test::data_path("clip_vit_tiny.weights.safetensors");
const std::string kCase = test::data_path("clip_vit_tiny.case.safetensors");

struct Fixture {
  SafetensorsFile cs = SafetensorsFile::open(kCase);
  WeightMap weights = WeightMap::open(kWeights);
  int64_t th = 0, tw = 0;
  Fixture() {
    const nlohmann::json hw = nlohmann::json::parse(cs.metadata().at("frame_hw"));
    th = hw.at(0).get<int64_t>();
    tw = hw.at(1).get<int64_t>();
  }
  ImageU8 image_u8(const std::string& name) const {
    const Tensor t = cs.get(name);  // [H, W, 3] U8
    EXPECT_EQ(t.dtype(), DType::U8);
    ImageU8 im{t.dim(0), t.dim(1), {}};
    im.rgb.assign(t.data<uint8_t>(), t.data<uint8_t>() + t.numel());
    return im;
  }
  Tensor f32(const std::string& name) const { return cs.get_f32(name); }
};

double rel(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.numel(), want.numel());
  if (got.numel() != want.numel()) return INFINITY;
  return test::relative_l2(Tensor::from_floats(got.to_floats(), want.shape()), want);
}

TEST(StartImage, CropBoxRoundsTheFloatBoxHalfToEven) {
  Fixture f;
  const ImageU8 im = f.image_u8("image.u8");
  const std::array<int64_t, 4> box = centre_crop_box(im.height, im.width, f.th, f.tw);
  const std::vector<float> want = f.f32("crop.box").to_floats();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(box[static_cast<size_t>(k)], static_cast<int64_t>(want[static_cast<size_t>(k)]));
  // The spec's example: 97x150 with new_h 53 crops 54 rows (48.5 .. 101.5 -> 48 .. 102).
  EXPECT_EQ(box[1], 48);
  EXPECT_EQ(box[3], 102);
  // A wider-than-target image crops columns; equal ratios crop nothing.
  EXPECT_EQ(centre_crop_box(352, 1280, 352, 640), (std::array<int64_t, 4>{320, 0, 960, 352}));
  EXPECT_EQ(centre_crop_box(704, 1280, 352, 640), (std::array<int64_t, 4>{0, 0, 1280, 704}));
}

TEST(StartImage, PillowBilinearResizeIsBitExact) {
  Fixture f;
  const ImageU8 got = prepare_start_image(f.image_u8("image.u8"), f.th, f.tw);
  const ImageU8 want = f.image_u8("frame.u8");
  ASSERT_EQ(got.height, want.height);
  ASSERT_EQ(got.width, want.width);
  int64_t differing = 0;
  for (size_t i = 0; i < want.rgb.size(); ++i) differing += got.rgb[i] != want.rgb[i];
  EXPECT_EQ(differing, 0) << "of " << want.rgb.size() << " bytes";
  // Fail-first: resizing without the uint8 rounding between the two passes
  // (rows first here, so the rounding falls elsewhere) is not bit exact.
  const ImageU8 cropped =
      crop(f.image_u8("image.u8"), centre_crop_box(f.image_u8("image.u8").height, f.image_u8("image.u8").width, f.th, f.tw));
  ImageU8 t{cropped.width, cropped.height, std::vector<uint8_t>(cropped.rgb.size())};  // transpose
  for (int64_t y = 0; y < cropped.height; ++y)
    for (int64_t x = 0; x < cropped.width; ++x)
      for (int c = 0; c < 3; ++c) t.rgb[static_cast<size_t>((x * cropped.height + y) * 3 + c)] = cropped.rgb[static_cast<size_t>((y * cropped.width + x) * 3 + c)];
  const ImageU8 other = pillow_bilinear_resize(t, f.tw, f.th);  // vertical pass first, in effect
  int64_t moved = 0;
  for (int64_t y = 0; y < f.th; ++y)
    for (int64_t x = 0; x < f.tw; ++x)
      for (int c = 0; c < 3; ++c)
        moved += other.rgb[static_cast<size_t>((x * f.th + y) * 3 + c)] != want.rgb[static_cast<size_t>((y * f.tw + x) * 3 + c)];
  EXPECT_GT(moved, 0) << "the pass order should matter for this fixture";
}

TEST(StartImage, FrameIsTwiceU8Over255MinusOne) {
  Fixture f;
  const Tensor frame = frame_from_u8(f.image_u8("frame.u8"));
  ASSERT_EQ(frame.shape(), (Shape{3, f.th, f.tw}));
  EXPECT_LT(rel(frame, f.f32("frame")), 1e-7);
}

TEST(StartImage, BadImagesGetNamedErrors) {
  ImageU8 short_image{4, 4, std::vector<uint8_t>(10)};
  try {
    pillow_bilinear_resize(short_image, 2, 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds 10 bytes"), std::string::npos) << e.what();
  }
  ImageU8 ok{4, 4, std::vector<uint8_t>(48)};
  EXPECT_THROW(crop(ok, {0, 0, 5, 4}), Error);
  EXPECT_THROW(centre_crop_box(0, 4, 2, 2), Error);
}

TEST(ClipVision, BicubicSquashAndNormalisationMatchTheFixture) {
  Fixture f;
  const ClipVision clip(f.weights);
  const Tensor resized = clip_bicubic_resize(f.f32("frame"), clip.config().image_size);
  EXPECT_LT(rel(resized, f.f32("clip.resized")), 1e-6);
  EXPECT_LT(rel(clip_normalize(resized), f.f32("clip.pixels")), 1e-6);
  // The cubic result is not clamped: the fixture overshoots [-1, 1] somewhere
  // or stays inside; either way ours has the same extremes.
  const std::vector<float> got = resized.to_floats(), want = f.f32("clip.resized").to_floats();
  EXPECT_NEAR(*std::max_element(got.begin(), got.end()), *std::max_element(want.begin(), want.end()), 1e-5);
  EXPECT_NEAR(*std::min_element(got.begin(), got.end()), *std::min_element(want.begin(), want.end()), 1e-5);
}

TEST(ClipVision, ConfigurationComesFromTheWeights) {
  Fixture f;
  const ClipVision clip(f.weights);
  EXPECT_EQ(clip.config().dim, 64);
  EXPECT_EQ(clip.config().heads, 4);
  EXPECT_EQ(clip.config().layers, 3);
  EXPECT_EQ(clip.config().patch, 14);
  EXPECT_EQ(clip.config().image_size, 56);
  EXPECT_EQ(clip.config().tokens(), 17);
}

TEST(ClipVision, TokensAreTheOutputOfAllButTheLastBlock) {
  Fixture f;
  const ClipVision clip(f.weights);
  ClipVision::Taps taps;
  const Tensor tokens = clip.forward(f.f32("clip.pixels"), -1, &taps);
  ASSERT_EQ(tokens.shape(), (Shape{17, 64}));
  EXPECT_LT(rel(taps.embed, f.f32("tap.embed")), 1e-5);
  ASSERT_EQ(taps.block.size(), 2u);
  EXPECT_LT(rel(taps.block[0], f.f32("tap.block.0")), 1e-5);
  EXPECT_LT(rel(taps.block[1], f.f32("tap.block.1")), 1e-5);
  const double err = rel(tokens, f.f32("tokens"));
  EXPECT_LT(err, 1e-5) << "tokens rel L2 " << err;
  std::printf("  clip_vit_tiny: blocks rel L2 %.3g, %.3g, tokens %.3g\n", rel(taps.block[0], f.f32("tap.block.0")),
              rel(taps.block[1], f.f32("tap.block.1")), err);
  // Fail-first: running every block (use_31_block off), or adding post_norm,
  // is far from MG2's visual_context.
  const Tensor all = clip.forward(f.f32("clip.pixels"), clip.config().layers);
  EXPECT_LT(rel(all, f.f32("contrast.all_blocks")), 1e-5);
  EXPECT_LT(rel(clip.post_norm(all), f.f32("contrast.all_blocks_post_norm")), 1e-5);
  EXPECT_GT(rel(all, f.f32("tokens")), 1e-2);
}

TEST(ClipVision, EndToEndFromTheStartImage) {
  Fixture f;
  const ClipVision clip(f.weights);
  const Tensor frame = frame_from_u8(prepare_start_image(f.image_u8("image.u8"), f.th, f.tw));
  const Tensor tokens = clip.forward(clip_normalize(clip_bicubic_resize(frame, clip.config().image_size)));
  EXPECT_LT(rel(tokens, f.f32("tokens")), 1e-5);
}

TEST(ClipVision, Bf16RunsAndStaysClose) {
  Fixture f;
  const ClipVision clip(f.weights, ops::MatmulPrecision::BF16);
  const double err = rel(clip.forward(f.f32("clip.pixels")), f.f32("tokens"));
  std::printf("  clip_vit_tiny bf16 products: tokens rel L2 %.3g\n", err);
  EXPECT_LT(err, 3e-2);
  // f32 products are within 1e-5 (above): bf16's 8-bit rounding must show,
  // or the bf16 path did not run.
  EXPECT_GT(err, 1e-4) << "bf16 matmuls should round above f32 level";
}

TEST(ClipVision, BadInputsGetNamedErrors) {
  Fixture f;
  const ClipVision clip(f.weights);
  try {
    clip.forward(Tensor::zeros({3, 55, 56}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected [3, 56, 56]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("clip_vit_tiny.weights"), std::string::npos) << e.what();
  }
  EXPECT_THROW(clip.forward(f.f32("clip.pixels"), 4), Error);
  EXPECT_THROW(clip_bicubic_resize(Tensor::zeros({4, 8, 8}), 4), Error);
  // A weight file without the tower names the missing tensor.
  const std::string path = test::temp_dir() + "/no_tower.safetensors";
  write_safetensors(path, {{"visual.patch_embedding.weight", Tensor::zeros({64, 3, 14, 14})}});
  try {
    ClipVision bad(WeightMap::open(path));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("visual.pos_embedding"), std::string::npos) << e.what();
  }
}


// ---- worldloop encode ----------------------------------------------------------------------------

TEST(EncodeCommand, ReproducesTheFixtureFromACaseAndFromAnImageFile) {
  Fixture f;
  const std::string dir = test::temp_dir();
  std::string log;
  ASSERT_EQ(test::run_worldloop("encode --weights " + kWeights + " --case " + kCase + " --out " + dir + "/case.safetensors", &log), 0) << log;
  // The same image as a binary PPM (stb_image reads it), with the fixture's size.
  const ImageU8 im = f.image_u8("image.u8");
  {
    std::ofstream ppm(dir + "/start.ppm", std::ios::binary);
    ppm << "P6\n" << im.width << " " << im.height << "\n255\n";
    ppm.write(reinterpret_cast<const char*>(im.rgb.data()), static_cast<std::streamsize>(im.rgb.size()));
  }
  ASSERT_EQ(test::run_worldloop("encode --weights " + kWeights + " --image " + dir + "/start.ppm --size " +
                                    std::to_string(f.th) + "x" + std::to_string(f.tw) + " --out " + dir + "/image.safetensors", &log), 0) << log;
  for (const char* out : {"/case.safetensors", "/image.safetensors"}) {
    const SafetensorsFile o = SafetensorsFile::open(dir + out);
    const Tensor u8 = o.get("frame.u8"), want = f.cs.get("frame.u8");
    ASSERT_EQ(u8.shape(), want.shape()) << out;
    EXPECT_EQ(std::vector<uint8_t>(u8.data<uint8_t>(), u8.data<uint8_t>() + u8.numel()),
              std::vector<uint8_t>(want.data<uint8_t>(), want.data<uint8_t>() + want.numel())) << out;
    for (const char* name : {"crop.box", "frame", "clip.pixels", "tap.embed", "tap.block.0", "tap.block.1", "tokens",
                             "contrast.all_blocks", "contrast.all_blocks_post_norm"})
      EXPECT_LT(rel(o.get_f32(name), f.f32(name)), 1e-5) << out << " " << name;
    EXPECT_FALSE(o.has("tap.block.2")) << "the last block does not run";
  }
}

TEST(EncodeCommand, BadInputsFailWithOneNamedLine) {
  const std::string dir = test::temp_dir();
  struct Case {
    std::string args, says;
  };
  const std::string w = " --weights " + kWeights, o = " --out " + dir + "/o.safetensors";
  const Case cases[] = {
      {w + " --case " + kCase + " --image x.png" + o, "exactly one of --case and --image"},
      {w + " --image " + dir + "/missing.png" + o, "missing.png: no such file"},
      {w + " --image " + dir + o, "not a regular file"},
      {w + " --image " + kWeights + o, "not an image stb_image can read"},
      {w + " --image " + kWeights + " --size 0x5" + o, "--size must be HEIGHTxWIDTH"},
      {w + " --case " + kWeights + o, "missing tensor 'image.u8'"},
      {" --weights " + test::data_path("mg2_universal.weights.safetensors") + " --case " + kCase + o,
       "neither a CLIP vision tower"},
      {w + " --case " + kCase + " --latent-frames 3" + o, "--latent-frames needs --vae"},
      {w + " --case " + kCase + " --vae " + test::data_path("wanvae_enc_tiny.weights.safetensors") + " --latent-frames 3" + o,
       "multiples of 8"},
      {w + " --case " + kCase + " --vae " + test::data_path("wanvae_enc_tiny.weights.safetensors") + o,
       "give --latent-frames"},
      {" --weights " + test::data_path("wanvae_enc_tiny.weights.safetensors") + " --image x.png" + o,
       "is a Wan VAE: give --case"},
      {" --weights " + test::data_path("wanvae_enc_tiny.weights.safetensors") + " --case " + kCase + o,
       "missing tensor 'video'"},
  };
  for (const Case& c : cases) {
    std::string log;
    EXPECT_EQ(test::run_worldloop("encode" + c.args, &log), 1) << c.args << "\n" << log;
    EXPECT_NE(log.find(c.says), std::string::npos) << c.args << "\n" << log;
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  }
}

}  // namespace
}  // namespace wl
