#include "tests/support/random_world.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <sentencepiece_trainer.h>

#include "runtime/core/safetensors.h"
#include "tests/support/random_checkpoint.h"

namespace wl::testref {
namespace {

Tensor random_tensor(const Shape& shape, double stdev, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, stdev);
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = static_cast<float>(normal(rng));
  return t;
}

void add_conv(std::vector<std::pair<std::string, Tensor>>& out, const std::string& name, int64_t o, int64_t i,
              std::mt19937_64& rng) {
  out.emplace_back(name + ".weight", random_tensor({o, i, 3, 3}, 1.0 / std::sqrt(9.0 * i), rng));
  out.emplace_back(name + ".bias", random_tensor({o}, 0.05, rng));
}

const char* kPrompts[] = {"a summer meadow", "a snowy forest", "desert dunes", "lava fields at night",
                          "a swamp", "an autumn forest", "winter woods", "green grass and flowers"};

}  // namespace

void write_random_world(const std::string& dir, const RandomWorldSpec& s) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::mt19937_64 rng(s.seed);
  const int C = s.latent_channels, ch = s.codec_channels;

  // Tokenizer: trained on a small corpus with sentencepiece itself.
  const std::string corpus = (fs::path(dir) / "corpus.txt").string();
  {
    std::ofstream f(corpus);
    for (int r = 0; r < 20; ++r)
      for (const char* p : kPrompts) f << p << "\n";
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + corpus + " --model_prefix=" + (fs::path(dir) / "tokenizer").string() +
      " --vocab_size=40 --model_type=unigram --minloglevel=2 --hard_vocab_limit=false");
  if (!status.ok()) throw std::runtime_error("sentencepiece training failed: " + status.ToString());
  fs::remove(corpus);
  fs::remove(fs::path(dir) / "tokenizer.vocab");
  // Embedding rows: an upper bound on the ids a 40-piece model can emit.
  const int vocab = 64;

  // Text encoder: one block, two heads.
  const int D = s.text_dim;
  {
    std::vector<std::pair<std::string, Tensor>> t;
    t.emplace_back("token_embedding.weight", random_tensor({vocab, D}, 1.0, rng));
    t.emplace_back("pos_embedding", random_tensor({8, D}, 0.1, rng));
    for (const char* n : {"blocks.0.norm1", "blocks.0.norm2", "norm"}) {
      t.emplace_back(std::string(n) + ".weight", Tensor::from_floats(std::vector<float>(D, 1.0f), {D}));
      t.emplace_back(std::string(n) + ".bias", random_tensor({D}, 0.05, rng));
    }
    t.emplace_back("blocks.0.attn.qkv.weight", random_tensor({3 * D, D}, 1.0 / std::sqrt(D), rng));
    t.emplace_back("blocks.0.attn.qkv.bias", random_tensor({3 * D}, 0.05, rng));
    t.emplace_back("blocks.0.attn.o.weight", random_tensor({D, D}, 1.0 / std::sqrt(D), rng));
    t.emplace_back("blocks.0.attn.o.bias", random_tensor({D}, 0.05, rng));
    t.emplace_back("blocks.0.ffn.0.weight", random_tensor({4 * D, D}, 1.0 / std::sqrt(D), rng));
    t.emplace_back("blocks.0.ffn.0.bias", random_tensor({4 * D}, 0.05, rng));
    t.emplace_back("blocks.0.ffn.2.weight", random_tensor({D, 4 * D}, 1.0 / std::sqrt(4 * D), rng));
    t.emplace_back("blocks.0.ffn.2.bias", random_tensor({D}, 0.05, rng));
    write_safetensors((fs::path(dir) / "text_encoder.safetensors").string(), t,
                      {{"config", R"({"num_heads": 2, "num_layers": 1, "max_len": 8, "eps": 1e-5})"}});
  }

  // Decoder and encoder.
  {
    std::vector<std::pair<std::string, Tensor>> dec, enc;
    add_conv(dec, "conv_in", ch, s.decoder_channels_override > 0 ? s.decoder_channels_override : C, rng);
    add_conv(enc, "conv_in", ch, 3, rng);
    for (int i = 0; i < s.codec_stages; ++i) {
      const std::string pre = "blocks." + std::to_string(i) + ".";
      add_conv(dec, pre + "conv1", ch, ch, rng);
      add_conv(dec, pre + "conv2", ch, ch, rng);
      add_conv(enc, pre + "conv1", ch, ch, rng);
      add_conv(enc, pre + "down", ch, ch, rng);
    }
    add_conv(dec, "conv_out", 3, ch, rng);
    add_conv(enc, "conv_out", C, ch, rng);
    write_safetensors((fs::path(dir) / "decoder.safetensors").string(), dec);
    write_safetensors((fs::path(dir) / "encoder.safetensors").string(), enc);
  }

  // DiT with the action embedding.
  RandomCheckpointSpec dit;
  dit.dim = 32;
  dit.num_heads = 2;
  dit.num_layers = 2;
  dit.ffn_dim = 64;
  dit.freq_dim = 16;
  dit.text_dim = D;
  dit.text_len = 8;
  dit.in_dim = dit.out_dim = C;
  dit.action_dim = 8;
  dit.seed = s.seed;
  write_random_checkpoint((fs::path(dir) / "dit.safetensors").string(), dit);

  const int image = s.latent_size << s.codec_stages;
  nlohmann::json world = {
      {"name", "random-test-world"},
      {"image", {{"width", image}, {"height", image}}},
      {"latent", {{"channels", C}, {"height", s.latent_size}, {"width", s.latent_size}}},
      {"fps", 30},
      {"sampler", {{"steps", {1000, 500}}, {"shift", 5.0}, {"chunk", 3}, {"context_noise", 0}}},
      {"cache", {{"budget_frames", 12}, {"sink_frames", 3}, {"policy", "full"}}},
      {"actions", {"W", "A", "S", "D", "up", "down", "left", "right"}},
      {"presets", {"a summer meadow", "a snowy forest"}},
      {"prime_frames", 3},
      {"latent_scale", 1.0},
      {"files", {{"dit", "dit.safetensors"}, {"decoder", "decoder.safetensors"}, {"encoder", "encoder.safetensors"},
                 {"text_encoder", "text_encoder.safetensors"}, {"tokenizer", "tokenizer.model"}}},
  };
  std::ofstream((fs::path(dir) / "world.json").string()) << world.dump(2);
}

}  // namespace wl::testref
