// The pixel decoders load through the checkpoint readers as the published
// files come: a torch.save `.pth` state dict (Wan2.1_VAE.pth, taew2_1.pth) and
// 16-bit weights (taew2_1.safetensors is fp16). The fixtures' weights, rounded
// to bf16 / fp16 and written as `.pth`, decode their cases within 2e-2.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "runtime/core/safetensors.h"
#include "runtime/core/weight_map.h"
#include "runtime/model/latent_video_decoder.h"
#include "runtime/model/wan_vae_blocks.h"
#include "tests/support/golden.h"
#include "tests/support/torch_save_writer.h"

namespace wl {
namespace {

// A torch.save archive of one flat state dict, every tensor in `dtype`.
std::string write_pth(const std::string& weights, DType dtype, const std::string& out) {
  const SafetensorsFile src = SafetensorsFile::open(weights);
  test::PickleOut p;
  p.empty_dict();
  p.mark();
  std::vector<std::pair<std::string, test::Bytes>> storages;
  for (const std::string& name : src.names()) {
    const Tensor t = src.get_f32(name).to(dtype);
    const std::string key = std::to_string(storages.size());
    storages.emplace_back(key, test::tensor_bytes(t));
    p.str(name);
    p.tensor(dtype == DType::F16 ? "HalfStorage" : "BFloat16Storage", key, t.numel(), 0, t.shape(),
             test::contiguous_strides(t.shape()));
  }
  p.op('u');
  p.stop();
  test::write_file(out, test::make_pt("archive", p.bytes, storages));
  return out;
}

TEST(DecoderCheckpoints, Fp16TaehvPthDecodesItsCase) {
  const std::string pth = write_pth(test::data_path("taehv_tiny.weights.safetensors"), DType::F16,
                                    test::temp_dir() + "/taew2_1.pth");
  const WeightMap w = WeightMap::open(pth);
  LatentVideoDecoder d(w);
  EXPECT_EQ(d.kind(), LatentDecoderKind::Taehv);
  const SafetensorsFile cs = SafetensorsFile::open(test::data_path("taehv_tiny.case.safetensors"));
  Tensor want = cs.get_f32("video.pixels").clone();
  for (int64_t i = 0; i < want.numel(); ++i) want.f32()[i] = want.f32()[i] * 2 - 1;
  const double e = test::relative_l2(d.push(cs.get_f32("latents")), want);
  std::printf("  taehv_tiny with fp16 weights from a .pth: rel L2 %.3g\n", e);
  EXPECT_LT(e, 2e-2);
  EXPECT_GT(e, 0.0) << "fp16 weights should not be bit-exact";
}

TEST(DecoderCheckpoints, Bf16VaePthDecodesItsCase) {
  const std::string pth = write_pth(test::data_path("wanvae_tiny.weights.safetensors"), DType::BF16,
                                    test::temp_dir() + "/Wan2.1_VAE.pth");
  const WeightMap w = WeightMap::open(pth);
  LatentVideoDecoder d(w);
  EXPECT_EQ(d.kind(), LatentDecoderKind::Vae);
  const SafetensorsFile cs = SafetensorsFile::open(test::data_path("wanvae_tiny.case.safetensors"));
  const double e = test::relative_l2(d.push(cs.get_f32("latents")), cs.get_f32("video.pixels"));
  std::printf("  wanvae_tiny with bf16 weights from a .pth: rel L2 %.3g\n", e);
  EXPECT_LT(e, 2e-2);
}

}  // namespace
}  // namespace wl
