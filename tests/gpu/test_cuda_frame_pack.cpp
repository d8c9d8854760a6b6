// The device end of the frame hand-off against its CPU twin:
// cuda::pack_rgba8 (runtime/cuda/frame_pack.h) must give exactly the bytes of
// unit_rgb_to_rgb8 (runtime/model/frame_decoder.h) plus alpha 255, and the image
// decoder on CUDA must give the CPU decoder's image.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "runtime/cuda/frame_pack.h"
#include "runtime/cuda/ops_cuda.h"
#include "runtime/core/error.h"
#include "runtime/model/image_codec.h"
#include "runtime/core/safetensors.h"
#include "tests/gpu/gpu_test.h"

namespace wl {
namespace {

// Values where the rule has edges: the ends of the range, halves that round
// away from zero, out of range on both sides, infinities and NaN.
void plant_edge_values(Tensor& img) {
  const float edges[] = {-1.0f, 1.0f, 0.0f, -1.0f + 0.5f / 127.5f, 1.0f - 0.5f / 127.5f, -1.5f, 2.0f,
                         std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                         std::numeric_limits<float>::quiet_NaN(), -0.0f, 0.999f, -0.999f};
  const int64_t n = img.numel();
  int64_t at = 0;
  for (float v : edges) img.f32()[(at += 97) % n] = v;
}

// Runs pack_rgba8 on `img` (CPU) and returns the frames [F][H][W][4], frame f
// read back from destination `order[f]` (the kernel must honour the pointer list).
std::vector<uint8_t> pack_on_device(const Tensor& img, const std::vector<int>& order) {
  const int64_t frames = img.dim(0), pixels = img.dim(2) * img.dim(3);
  const Tensor d_img = ops::to_backend(img, Backend::CUDA);
  // One F32 element per RGBA8 pixel: [F, H * W] words, frame slots in a row.
  Tensor d_out = ops::zeros({frames, pixels}, Backend::CUDA);
  std::vector<void*> dst;
  for (int64_t f = 0; f < frames; ++f) dst.push_back(static_cast<uint8_t*>(d_out.raw()) + order[f] * pixels * 4);
  cuda::pack_rgba8(d_img, dst, cuda::stream());
  const Tensor h_out = ops::to_backend(d_out, Backend::CPU);
  const auto* bytes = static_cast<const uint8_t*>(h_out.raw());
  std::vector<uint8_t> out(static_cast<size_t>(frames * pixels * 4));
  for (int64_t f = 0; f < frames; ++f)
    std::copy_n(bytes + order[f] * pixels * 4, pixels * 4, out.begin() + f * pixels * 4);
  return out;
}

std::vector<uint8_t> rgba_from_rgb(const std::vector<uint8_t>& rgb) {
  std::vector<uint8_t> out(rgb.size() / 3 * 4);
  for (size_t i = 0, n = rgb.size() / 3; i < n; ++i) {
    out[i * 4 + 0] = rgb[i * 3 + 0];
    out[i * 4 + 1] = rgb[i * 3 + 1];
    out[i * 4 + 2] = rgb[i * 3 + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

TEST(CudaFramePack, MatchesTheCpuConversionByteForByte) {
  WL_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    std::vector<int> order;  // destination of each frame
  };
  const Case cases[] = {{{1, 3, 1, 1}, {0}},
                        {{3, 3, 37, 53}, {2, 0, 1}},  // odd sizes, frames written out of order
                        {{2, 3, 16, 257}, {1, 0}},    // a plane just past a block boundary
                        {{4, 3, 96, 160}, {0, 1, 2, 3}}};
  uint32_t seed = 11;
  for (const Case& c : cases) {
    Tensor img = gpu_test::random_tensor(c.shape, ++seed, -1.3f, 1.3f);  // [F, 3, H, W]
    plant_edge_values(img);
    std::vector<uint8_t> rgb;
    unit_rgb_to_rgb8(img, rgb);
    const std::vector<uint8_t> want = rgba_from_rgb(rgb);
    const std::vector<uint8_t> got = pack_on_device(img, c.order);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_EQ(static_cast<int>(got[i]), static_cast<int>(want[i]))
          << shape_str(c.shape) << " byte " << i << " (pixel " << i / 4 << ", channel " << i % 4 << ")";
  }
}

TEST(CudaFramePack, RejectsBadArguments) {
  WL_REQUIRE_CUDA();
  const Tensor d_img = ops::zeros({2, 3, 4, 4}, Backend::CUDA);
  Tensor d_out = ops::zeros({2, 16}, Backend::CUDA);
  void* base = d_out.raw();
  EXPECT_THROW(cuda::pack_rgba8(d_img, {base}, cuda::stream()), Error);  // one destination for two frames
  EXPECT_THROW(cuda::pack_rgba8(d_img, {base, static_cast<uint8_t*>(base) + 2}, cuda::stream()), Error);  // misaligned
  EXPECT_THROW(cuda::pack_rgba8(ops::zeros({2, 4, 4, 4}, Backend::CUDA), {base, base}, cuda::stream()), Error);
  EXPECT_THROW(cuda::pack_rgba8(Tensor::zeros({2, 3, 4, 4}), {base, base}, cuda::stream()), Error);  // host image
}

// A decoder package of random 3x3 convolutions (the layout ImageDecoder reads).
std::string write_random_decoder(const std::string& path, int64_t latent, int64_t width, int stages) {
  std::vector<std::pair<std::string, Tensor>> t;
  uint32_t seed = 100;
  auto add_conv = [&](const std::string& name, int64_t out, int64_t in) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(in * 9));
    t.emplace_back(name + ".weight", gpu_test::random_tensor({out, in, 3, 3}, ++seed, -scale, scale));
    t.emplace_back(name + ".bias", gpu_test::random_tensor({out}, ++seed, -0.1f, 0.1f));
  };
  add_conv("conv_in", width, latent);
  for (int i = 0; i < stages; ++i) {
    add_conv("blocks." + std::to_string(i) + ".conv1", width, width);
    add_conv("blocks." + std::to_string(i) + ".conv2", width, width);
  }
  add_conv("conv_out", 3, width);
  write_safetensors(path, t);
  return path;
}

TEST(CudaImageDecoder, MatchesTheCpuDecoder) {
  WL_REQUIRE_CUDA();
  const std::string path =
      (std::filesystem::temp_directory_path() / ("wl_gpu_decoder_" + std::to_string(::getpid()) + ".safetensors"))
          .string();
  const WeightMap w = WeightMap::open(write_random_decoder(path, 4, 12, 2));
  const ImageDecoder cpu(w), gpu(w, Backend::CUDA);
  EXPECT_EQ(gpu.backend(), Backend::CUDA);
  const Tensor z = gpu_test::random_tensor({3, 4, 5, 7}, 7);  // [F, C, h, w]
  const Tensor want = cpu.decode(z);                           // [F, 3, 20, 28]
  const Tensor got = gpu.decode(z);                            // latents on the host are uploaded
  ASSERT_EQ(got.backend(), Backend::CUDA);
  ASSERT_EQ(got.shape(), want.shape());
  // Five F32 convolutions in a row: the error of each adds up.
  EXPECT_LT(gpu_test::normalised_error(got, want), 1e-4);
  // Latents already on the device give the same image.
  EXPECT_LT(gpu_test::normalised_error(gpu.decode(ops::to_backend(z, Backend::CUDA)), want), 1e-4);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace wl
