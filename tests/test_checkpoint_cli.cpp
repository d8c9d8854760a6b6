// worldloop convert and inspect, run as the binary: convert writes what the
// loader produces (the golden expected files), bad input exits non-zero with
// one line naming the file, inspect names formats, models and roles.
#include <gtest/gtest.h>

#include <filesystem>

#include "runtime/core/safetensors.h"
#include "tests/support/golden.h"
#include "tests/support/torch_save_writer.h"

namespace wl {
namespace {

namespace fs = std::filesystem;

// The public checkpoint look-alikes (../shared/golden/ckpt), copied into tests/data/ckpt/.
std::string golden_ckpt(const std::string& name) { return test::data_path("ckpt/" + name); }

// A missing copy is a failure, not a skip.
#define REQUIRE_GOLDEN() ASSERT_TRUE(fs::exists(golden_ckpt("sf_like.pt"))) << golden_ckpt("sf_like.pt") << " is missing"
#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

void expect_files_match(const std::string& got_path, const std::string& want_path, double tolerance) {
  const SafetensorsFile got = SafetensorsFile::open(got_path), want = SafetensorsFile::open(want_path);
  std::vector<std::string> a = got.names(), b = want.names();
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  ASSERT_EQ(a, b);
  for (const std::string& n : a) {
    EXPECT_EQ(got.info(n).dtype, DType::F32) << n;
    if (tolerance == 0) EXPECT_EQ(got.get(n).to_floats(), want.get_f32(n).to_floats()) << n;
    else EXPECT_LE(test::relative_l2(got.get(n), want.get_f32(n)), tolerance) << n;
  }
}

TEST(CheckpointCli, ConvertWritesTheExpectedStateDicts) {
  REQUIRE_GOLDEN();
  const std::string dir = test::temp_dir();
  std::string log;
  ASSERT_EQ(test::run_worldloop("convert " + golden_ckpt("sf_like.pt") + " --out " + dir + "/sf.safetensors", &log), 0) << log;
  EXPECT_CONTAINS(log, "container 'generator_ema'");
  expect_files_match(dir + "/sf.safetensors", golden_ckpt("sf_like.expected.safetensors"), 0);
  ASSERT_EQ(test::run_worldloop("convert " + golden_ckpt("t5_like.pth") + " --out " + dir + "/t5.safetensors", &log), 0) << log;
  expect_files_match(dir + "/t5.safetensors", golden_ckpt("t5_like.expected.safetensors"), 0);
  ASSERT_EQ(test::run_worldloop("convert " + golden_ckpt("longlive_like_base.pt") + " --lora " +
                                    golden_ckpt("longlive_like_lora.pt") + " --lora-alpha 8 --out " + dir + "/ll.safetensors",
                                &log),
            0)
      << log;
  expect_files_match(dir + "/ll.safetensors", golden_ckpt("longlive_like.expected.safetensors"), 1e-6);
  // --weights-key picks the other copy: still the generator's names, other values.
  ASSERT_EQ(test::run_worldloop("convert " + golden_ckpt("sf_like.pt") + " --weights-key generator --out " + dir +
                                    "/gen.safetensors",
                                &log),
            0)
      << log;
  EXPECT_CONTAINS(log, "container 'generator'");
}

TEST(CheckpointCli, ConvertErrorsAreOneLineNamingTheFile) {
  const std::string dir = test::temp_dir();
  std::string log;
  EXPECT_NE(test::run_worldloop("convert " + dir + "/absent.pt --out " + dir + "/o.safetensors", &log), 0);
  EXPECT_CONTAINS(log, dir + "/absent.pt");
  EXPECT_EQ(lines(log), 1) << log;
  test::PickleOut p;
  p.empty_dict();
  p.str("w");
  p.global("os", "system");
  p.str("touch " + dir + "/pwned");
  p.op(0x85);
  p.op('R');
  p.op('s');
  p.stop();
  test::write_file(dir + "/evil.pt", test::make_pt("evil", p.bytes, {}));
  EXPECT_NE(test::run_worldloop("convert " + dir + "/evil.pt --out " + dir + "/o.safetensors", &log), 0);
  EXPECT_CONTAINS(log, "forbidden global 'os.system'");
  EXPECT_CONTAINS(log, dir + "/evil.pt");
  EXPECT_EQ(lines(log), 1) << log;
  EXPECT_FALSE(fs::exists(dir + "/pwned"));
  EXPECT_FALSE(fs::exists(dir + "/o.safetensors"));
  EXPECT_NE(test::run_worldloop("convert " + dir + "/evil.pt --lora x.pt:abc --out o", &log), 0);
  EXPECT_CONTAINS(log, "must be a number");
}

TEST(CheckpointCli, InspectNamesFilesAndRoles) {
  REQUIRE_GOLDEN();
  std::string log;
  ASSERT_EQ(test::run_worldloop("inspect " + golden_ckpt("sf_like.pt") + " " + golden_ckpt("longlive_like_lora.pt"), &log), 0)
      << log;
  EXPECT_CONTAINS(log, "container 'generator_ema'");
  EXPECT_CONTAINS(log, "model: causal Wan DiT");
  EXPECT_CONTAINS(log, "layers: 2");
  EXPECT_CONTAINS(log, "parameters: 147,200");
  EXPECT_CONTAINS(log, "LoRA, 20 targets, rank 4");
  // A folder: which role each file fills.
  const std::string dir = test::temp_dir();
  fs::copy_file(golden_ckpt("sf_like.pt"), dir + "/self_forcing_dmd.pt");
  fs::copy_file(golden_ckpt("t5_like.pth"), dir + "/models_t5_umt5-xxl-enc-bf16.pth");
  fs::copy_file(test::data_path("wanvae_tiny.weights.safetensors"), dir + "/Wan2.1_VAE.safetensors");
  ASSERT_EQ(test::run_worldloop("inspect " + dir, &log), 0) << log;
  EXPECT_CONTAINS(log, "self_forcing_dmd.pt\n    format: torch.save zip");
  EXPECT_CONTAINS(log, "role: dit");
  EXPECT_CONTAINS(log, "role: text_encoder");
  EXPECT_CONTAINS(log, "role: vae");
  // Not a checkpoint: exit 1 with what it is.
  test::write_file(dir + "/junk.pt", test::Bytes(100, 'x'));
  EXPECT_EQ(test::run_worldloop("inspect " + dir + "/junk.pt", &log), 1);
  EXPECT_CONTAINS(log, dir + "/junk.pt");
}

}  // namespace
}  // namespace wl
