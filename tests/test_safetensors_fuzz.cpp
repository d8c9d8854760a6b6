// Deterministic mutation fuzzing of the safetensors reader: every mutated
// image must either load (and then every tensor must be fully readable inside
// the data section) or be rejected with a one-line wl::Error naming the image.
// Anything else (another exception type, a crash, an out-of-range read under
// a sanitizer) fails the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"

namespace wl {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

constexpr const char* kLabel = "fuzz.safetensors";
constexpr int kIterations = 20000;

Bytes written_image(const std::vector<std::pair<std::string, Tensor>>& tensors,
                    const std::map<std::string, std::string>& metadata) {
  const fs::path path = fs::temp_directory_path() / ("wl_st_fuzz_" + std::to_string(::getpid()) + ".safetensors");
  write_safetensors(path.string(), tensors, metadata);
  std::ifstream in(path, std::ios::binary);
  Bytes out{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  fs::remove(path);
  return out;
}

Bytes hand_image(const std::string& header, size_t data_bytes) {
  Bytes out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(uint64_t{header.size()} >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(i * 37));
  return out;
}

std::vector<Bytes> seed_images() {
  std::vector<float> ramp(24);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = 0.5f * static_cast<float>(i) - 3.0f;
  const Tensor f32 = Tensor::from_floats(ramp, {2, 3, 4});
  std::vector<Bytes> seeds;
  seeds.push_back(written_image({{"blocks.0.weight", f32},
                                 {"blocks.0.bias", f32.reshape({24}).to(DType::BF16)},
                                 {"head.w", f32.reshape({4, 6}).to(DType::F16)}},
                                {{"format", "pt"}, {"config", "{\"dim\": 4}"}}));
  seeds.push_back(written_image({{"model.generator_ema.scalar", Tensor::from_floats({1.0f}, {})},
                                 {"model.generator.empty", Tensor::zeros({0, 5}, DType::F16)}},
                                {}));
  // Odd header length (misaligned data) and a hole between tensors.
  seeds.push_back(hand_image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[4,16]},)"
                             R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[16,20]},)"
                             R"("__metadata__":{"k":"v"}} )",
                             24));
  return seeds;
}

// Pieces of JSON (valid and not) that steer mutations into the validator's branches.
const std::vector<std::string>& fragments() {
  static const std::vector<std::string> f = {
      "0", "1", "-1", "2.5", "1e400", "-0", "4294967296", "9223372036854775807", "9223372036854775808",
      "18446744073709551615", "18446744073709551616", "[]", "{}", "[0,0]", "[1,1]", "[0,4294967296]",
      "null", "true", "\"\"", "\"F32\"", "\"BF16\"", "\"F16\"", "\"I64\"", "\"dtype\"", "\"shape\"",
      "\"data_offsets\"", "\"__metadata__\"", "\"__metadata__\":{\"a\":1},", "\"__metadata__\":[],",
      "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},", ",", ":", "{", "}", "[", "]", "\"",
      "\\u0000", "\\ud800", "\\\"", "\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
      "[[[[[[[[[[[[[[[[", "{\"a\":{\"a\":{\"a\":", "        "};
  return f;
}

uint64_t read_len(const Bytes& b) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | b[i];
  return n;
}

void write_len(Bytes& b, uint64_t n) {
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(n >> (8 * i));
}

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  size_t below(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  void mutate(Bytes& b) {
    switch (below(8)) {
      case 0:  // bit flip
        if (!b.empty()) b[below(b.size())] ^= static_cast<uint8_t>(1u << below(8));
        break;
      case 1: {  // set a byte, often a JSON-significant one
        static const char interesting[] = "{}[]\",:-.0123456789eE \\";
        if (b.empty()) break;
        b[below(b.size())] = below(2) ? static_cast<uint8_t>(interesting[below(sizeof interesting - 1)])
                                      : static_cast<uint8_t>(below(256));
        break;
      }
      case 2:  // truncate
        b.resize(below(b.size() + 1));
        break;
      case 3: {  // extend with random bytes
        size_t n = 1 + below(64);
        for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(below(256)));
        break;
      }
      case 4: {  // edit the header length
        if (b.size() < 8) break;
        const uint64_t n = read_len(b);
        const uint64_t choices[] = {0, 1, n - 1, n + 1, n + 8, b.size() - 8, b.size(), uint64_t{1} << 63,
                                    ~uint64_t{0}, 100'000'001, below(b.size() + 16)};
        write_len(b, choices[below(std::size(choices))]);
        break;
      }
      default:  // splice a fragment into the header, keeping the length field consistent
        splice(b);
        break;
    }
  }

 private:
  void splice(Bytes& b) {
    if (b.size() < 8) return;
    const uint64_t n = read_len(b);
    if (n > b.size() - 8) return;
    const std::string& frag = fragments()[below(fragments().size())];
    const size_t at = 8 + below(n + 1);
    size_t removed = below(2) ? 0 : std::min<size_t>(below(12), 8 + n - at);
    // Prefer replacing a whole token (a number or quoted string) so the JSON often still parses.
    if (below(2) && at < 8 + n) {
      size_t end = at;
      const bool in_number = std::isdigit(b[at]) || b[at] == '-';
      while (end < 8 + n && (in_number ? (std::isdigit(b[end]) || b[end] == '-') : b[end] != ',' && b[end] != '}'))
        ++end;
      removed = end - at;
    }
    b.erase(b.begin() + static_cast<ptrdiff_t>(at), b.begin() + static_cast<ptrdiff_t>(at + removed));
    b.insert(b.begin() + static_cast<ptrdiff_t>(at), frag.begin(), frag.end());
    write_len(b, n - removed + frag.size());
  }

  std::mt19937_64 rng_;
};

// An accepted image must describe only bytes inside its data section, and each
// tensor must read back completely.
void check_accepted(const SafetensorsFile& file, const Bytes& image) {
  const uint64_t header_len = read_len(image);
  ASSERT_LE(8 + header_len, image.size());
  const uint64_t data_size = image.size() - 8 - header_len;
  for (const std::string& name : file.names()) {
    const TensorInfo& info = file.info(name);
    ASSERT_LE(info.begin, info.end);
    ASSERT_LE(info.end, data_size);
    Tensor t = file.get(name);
    ASSERT_EQ(t.nbytes(), info.end - info.begin);
    ASSERT_EQ(t.shape(), info.shape);
    const auto* p = static_cast<const uint8_t*>(t.raw());
    unsigned sum = 0;
    for (size_t i = 0; i < t.nbytes(); ++i) sum += p[i];  // touch every byte
    ASSERT_EQ(sum, std::accumulate(image.begin() + static_cast<ptrdiff_t>(8 + header_len + info.begin),
                                   image.begin() + static_cast<ptrdiff_t>(8 + header_len + info.end), 0u));
    Tensor f = file.get_f32(name);
    ASSERT_EQ(f.numel(), t.numel());
  }
}

TEST(SafetensorsFuzz, RandomMutationsLoadOrThrowWlError) {
  const std::vector<Bytes> seeds = seed_images();
  for (const Bytes& s : seeds) ASSERT_NO_THROW(SafetensorsFile::from_bytes(kLabel, s.data(), s.size()));

  Mutator mutator(0x5afe7e45u);
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < kIterations; ++iter) {
    Bytes image = seeds[iter % seeds.size()];
    const size_t rounds = 1 + mutator.below(4);
    for (size_t r = 0; r < rounds; ++r) mutator.mutate(image);
    try {
      SafetensorsFile file = SafetensorsFile::from_bytes(kLabel, image.data(), image.size());
      ++accepted;
      check_accepted(file, image);
    } catch (const Error& e) {
      ++rejected;
      const std::string msg = e.what();
      ASSERT_EQ(msg.rfind(std::string(kLabel) + ": ", 0), 0u) << "iteration " << iter << ": " << msg;
      ASSERT_EQ(msg.find('\n'), std::string::npos) << "iteration " << iter << ": " << msg;
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iter << ": non-wl::Error exception: " << e.what();
    }
    if (::testing::Test::HasFatalFailure()) FAIL() << "iteration " << iter;
  }
  // Both outcomes must be exercised, or the mutations are too weak (or too strong) to mean much.
  EXPECT_GT(accepted, kIterations / 100);
  EXPECT_GT(rejected, kIterations / 2);
  std::printf("[ safetensors fuzz ] %d mutated images: %d accepted, %d rejected\n", kIterations, accepted, rejected);
}

}  // namespace
}  // namespace wl
