#include "tests/support/tiny_published_model.h"

#include <filesystem>

#include "tests/support/golden.h"
#include "tests/support/random_checkpoint.h"

namespace wl::testref {

void write_tiny_published_files(const std::string& dir_name, const std::string& dit_file) {
  namespace fs = std::filesystem;
  const fs::path dir(dir_name);
  fs::create_directories(dir / "google/umt5-xxl");
  fs::copy_file(test::data_path("umt5_tiny.weights.safetensors"), dir / "models_t5_umt5-xxl-enc-bf16.safetensors",
                fs::copy_options::overwrite_existing);
  fs::copy_file(test::data_path("umt5_tiny.spm.model"), dir / "google/umt5-xxl/spiece.model",
                fs::copy_options::overwrite_existing);
  RandomCheckpointSpec dit;
  dit.in_dim = dit.out_dim = 16;  // Wan 2.1 VAE latents
  dit.text_dim = 64;              // umt5_tiny's width
  dit.text_len = 512;
  dit.dim = 128;  // one head of 128, as Wan's dim / 128 rule gives when a .pt carries no config
  dit.num_heads = 1;
  dit.ffn_dim = 256;
  dit.prefixes = {"generator_ema.model."};
  write_random_checkpoint((dir / dit_file).string(), dit);
}

}  // namespace wl::testref
