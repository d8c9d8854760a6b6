// make_start_clip: writes a world package's start clip (runtime/model/world_start.h)
// from the oracle game the package was trained on. For each preset prompt it
// renders the package's prime_frames idle frames of the oracle at `seed` and
// that prompt's theme, encodes them with the package's encoder and stores
// frames, latents (in the DiT's scale) and actions.
//
//   make_start_clip WORLD_DIR [--seed 0] [--out FILE]   (default FILE: WORLD_DIR/start.safetensors)
//
// Run it after tools/train/export.py whenever the encoder changes; the package's
// world.json then says "start": {"from": "clip", "file": "start.safetensors"}.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "app/sources/oracle_primer.h"
#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/image_codec.h"
#include "runtime/model/world.h"

namespace {

int run(int argc, char** argv) {
  std::string dir, out;
  uint64_t seed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--out" && i + 1 < argc) out = argv[++i];
    else if (a.rfind("--", 0) != 0 && dir.empty()) dir = a;
    else throw wl::Error("usage: make_start_clip WORLD_DIR [--seed N] [--out FILE]");
  }
  if (dir.empty()) throw wl::Error("usage: make_start_clip WORLD_DIR [--seed N] [--out FILE]");
  if (out.empty()) out = (std::filesystem::path(dir) / "start.safetensors").string();

  const wl::WorldDescription d = wl::WorldDescription::read(dir);
  if (!d.files.count("encoder")) throw wl::Error(dir + "/world.json: no files.encoder to encode the start with");
  if (d.prime_frames <= 0) throw wl::Error(dir + "/world.json: prime_frames is 0; a start clip needs frames");
  const wl::WeightMap weights = wl::WeightMap::open((std::filesystem::path(dir) / d.files.at("encoder")).string());
  const wl::ImageEncoder encoder(weights);

  const std::vector<std::string> prompts = d.presets.empty() ? std::vector<std::string>{""} : d.presets;
  const int64_t n = d.prime_frames, a = static_cast<int64_t>(d.actions.size());
  std::vector<std::pair<std::string, wl::Tensor>> tensors;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<wl::FrameActions> actions;
    const std::vector<uint8_t> rgb =
        wl::app::oracle_priming_frames(d.image_width, d.image_height, seed, prompts[i], static_cast<int>(n), actions);
    wl::Tensor frames = wl::Tensor::zeros({n, d.image_height, d.image_width, 3});  // [n, H, W, 3] 0..255
    for (size_t k = 0; k < rgb.size(); ++k) frames.f32()[k] = static_cast<float>(rgb[k]);
    wl::Tensor z = encoder.encode_rgb8(rgb.data(), n, d.image_height, d.image_width);  // [n, C, h, w]
    for (int64_t k = 0; k < z.numel(); ++k) z.f32()[k] *= d.latent_scale;           // the DiT's scale
    wl::Tensor keys = wl::Tensor::zeros({n, a});  // [n, action_dim]: the oracle primes with no key held
    const std::string k = std::to_string(i);
    tensors.emplace_back("rgb." + k, frames);
    tensors.emplace_back("latents." + k, z);
    tensors.emplace_back("actions." + k, keys);
  }
  wl::write_safetensors(out, tensors,
                        {{"made_by", "tools/oracle/make_start_clip"}, {"source", "oracle game"},
                         {"seed", std::to_string(seed)}, {"world", d.name}});
  std::printf("make_start_clip: %s: %zu presets x %lld frames (oracle seed %llu)\n", out.c_str(), prompts.size(),
              static_cast<long long>(n), static_cast<unsigned long long>(seed));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_start_clip: %s\n", e.what());
    return 1;
  }
}
