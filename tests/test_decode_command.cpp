// `worldloop decode` (app/cli/cmd_decode.cpp): replays every decoder case in
// tests/data and compares every tensor the case holds; infers latent frames
// per call from a case's shapes; decodes a user's latents into a video; and
// refuses mismatched decoders and bad latents with a named error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/core/safetensors.h"
#include "runtime/model/wan_vae_blocks.h"
#include "tests/support/golden.h"

namespace wl {
namespace {

const std::string kVae = test::data_path("wanvae_tiny.weights.safetensors");
const std::string kTaehv = test::data_path("taehv_tiny.weights.safetensors");

// Replays `case_path` and returns the worst relative L2 over the case's
// pixel and tap tensors (gtest failures for a missing name or a wrong shape).
double replay_worst(const std::string& weights, const std::string& case_path, const std::string& flags = "") {
  const std::string out = test::temp_dir() + "/decoded.safetensors";
  std::string log;
  EXPECT_EQ(test::run_worldloop("decode --weights " + weights + " --case " + case_path + " --out " + out + " " + flags,
                                &log),
            0)
      << log;
  const SafetensorsFile want = SafetensorsFile::open(case_path), got = SafetensorsFile::open(out);
  double worst = 0;
  int compared = 0;
  for (const std::string& name : want.names()) {
    if (name == "latents" || name.rfind("scale.", 0) == 0) continue;
    if (!got.has(name)) {
      ADD_FAILURE() << case_path << ": decode did not write " << name;
      return INFINITY;
    }
    const Tensor g = got.get_f32(name), w = want.get_f32(name);
    if (g.shape() != w.shape()) {
      ADD_FAILURE() << name << ": shape " << shape_str(g.shape()) << ", expected " << shape_str(w.shape());
      return INFINITY;
    }
    worst = std::max(worst, test::relative_l2(g, w));
    ++compared;
  }
  EXPECT_GE(compared, 3) << case_path;
  return worst;
}

TEST(DecodeCommand, ReplaysEveryDecoderCase) {
  for (const char* c : {"wanvae_tiny", "wanvae_tiny_chunk3"}) {
    const double e = replay_worst(kVae, test::data_path(std::string(c) + ".case.safetensors"));
    std::printf("  decode %s: worst rel L2 %.3g\n", c, e);
    EXPECT_LT(e, 1e-5) << c;
  }
  for (const char* c : {"taehv_tiny", "taehv_tiny_block3"}) {
    const double e = replay_worst(kTaehv, test::data_path(std::string(c) + ".case.safetensors"));
    std::printf("  decode %s: worst rel L2 %.3g\n", c, e);
    EXPECT_LT(e, 1e-5) << c;
  }
}

// A pipeline case streamed 3 latents per call: stream.call.0 holds 9 frames,
// so decode runs 3 per call, and gives the whole video's pixels.
TEST(DecodeCommand, LatentsPerCallComeFromTheCaseShapes) {
  const SafetensorsFile src = SafetensorsFile::open(test::data_path("wanvae_tiny.case.safetensors"));
  const Tensor video = src.get_f32("video.pixels");  // [17, 3, 32, 48]
  const std::string dir = test::temp_dir(), path = dir + "/stream3.case.safetensors";
  write_safetensors(path,
                    {{"latents", src.get_f32("latents")},
                     {"stream.call.0.pixels", wan_vae::frames_of(video, 0, 9)},
                     {"stream.call.1.pixels", wan_vae::frames_of(video, 9, 8)},
                     {"video.pixels", video}},
                    {{"format", "wan-vae-decoder-case"}, {"decoder", "wan2.1-vae"}, {"mode", "pipeline"}});
  EXPECT_LT(replay_worst(kVae, path), 1e-5);
}

TEST(DecodeCommand, DecodesUserLatentsIntoAVideo) {
  const std::string dir = test::temp_dir(), latents = dir + "/latents.safetensors";
  const SafetensorsFile src = SafetensorsFile::open(test::data_path("wanvae_tiny.case.safetensors"));
  write_safetensors(latents, {{"latents", src.get_f32("latents")}}, {});  // [5, 16, 4, 6]
  std::string log;
  ASSERT_EQ(test::run_worldloop("decode --weights " + kVae + " --decoder vae --latents " + latents + " --out " + dir +
                                    "/video.y4m",
                                &log),
            0)
      << log;
  std::ifstream in(dir + "/video.y4m", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(bytes.rfind("YUV4MPEG2 W48 H32", 0), 0u) << bytes.substr(0, 40);
  int frames = 0;
  for (size_t at = bytes.find("FRAME"); at != std::string::npos; at = bytes.find("FRAME", at + 5)) ++frames;
  EXPECT_EQ(frames, 17);

  ASSERT_EQ(test::run_worldloop("decode --weights " + kTaehv + " --taehv-stream demo --latents-per-call 2 --latents " +
                                    latents + " --out " + dir + "/frames",
                                &log),
            0)
      << log;
  int pngs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/frames")) pngs += e.path().extension() == ".png";
  EXPECT_EQ(pngs, 17);
}

TEST(DecodeCommand, MismatchesAndBadLatentsGetNamedErrors) {
  const std::string vae_case = test::data_path("wanvae_tiny.case.safetensors");
  const std::string out = test::temp_dir() + "/o.safetensors";
  std::string log;
  EXPECT_NE(test::run_worldloop("decode --weights " + kVae + " --decoder taehv --case " + vae_case + " --out " + out, &log), 0);
  EXPECT_NE(log.find(kVae), std::string::npos) << log;
  EXPECT_NE(log.find("--decoder taehv"), std::string::npos) << log;

  EXPECT_NE(test::run_worldloop("decode --weights " + kTaehv + " --case " + vae_case + " --out " + out, &log), 0);
  EXPECT_NE(log.find("wan2.1-vae"), std::string::npos) << log;

  EXPECT_NE(test::run_worldloop("decode --weights " + kVae + " --vae-stream sideways --case " + vae_case + " --out " + out, &log), 0);
  EXPECT_NE(log.find("--vae-stream"), std::string::npos) << log;

  const std::string bad = test::temp_dir() + "/bad_latents.safetensors";
  write_safetensors(bad, {{"latents", Tensor::zeros({2, 8, 3, 3})}}, {});
  EXPECT_NE(test::run_worldloop("decode --weights " + kVae + " --latents " + bad + " --out " + out + ".y4m", &log), 0);
  EXPECT_NE(log.find(bad), std::string::npos) << log;
  EXPECT_NE(log.find("[2, 8, 3, 3]"), std::string::npos) << log;

  EXPECT_NE(test::run_worldloop("decode --weights " + vae_case + " --latents " + bad + " --out " + out, &log), 0);
  EXPECT_NE(log.find("neither"), std::string::npos) << log;
}

}  // namespace
}  // namespace wl
