// Deterministic mutation fuzzing of the ZIP reader and the unpickler: every
// mutated .pt image must either load (and then every tensor must read) or
// be refused with a wl::Error naming the image. Anything else (another
// exception type, a crash, a hang) fails. Bounded to a few seconds.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "runtime/core/checkpoint_source.h"
#include "runtime/core/error.h"
#include "runtime/core/pt_file.h"
#include "runtime/core/zip_archive.h"
#include "tests/support/torch_save_writer.h"

namespace wl {
namespace {

using test::Bytes;

Bytes seed_pt(bool zip64, bool from_type) {
  test::PickleOut p;
  p.empty_dict();
  p.mark();
  p.str("generator");
  p.ordered_dict();
  p.mark();
  p.str("a.weight");
  p.tensor("FloatStorage", "0", 24, 0, {4, 6}, {6, 1}, from_type);
  p.str("a.t");
  p.tensor("FloatStorage", "0", 24, 4, {5, 4}, {1, 5}, from_type);
  p.str("b.bias");
  p.tensor("BFloat16Storage", "1", 8, 2, {6}, {1});
  p.op('u');
  p.str("step");
  p.integer(70000);
  p.op('u');
  p.stop();
  Bytes f32(96), bf16(16);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = static_cast<uint8_t>(i * 7);
  for (size_t i = 0; i < bf16.size(); ++i) bf16[i] = static_cast<uint8_t>(i * 13);
  return test::make_pt("fz", p.bytes, {{"0", f32}, {"1", bf16}}, zip64);
}

// Touches the first and the furthest element of every tensor in the tree
// (under a sanitizer, a read outside the image fails here).
uint64_t touch(const PickleValue& v, int depth = 0) {
  uint64_t sum = 0;
  if (depth > 300) ADD_FAILURE() << "tree deeper than the unpickler allows";
  if (v.kind == PickleValue::Kind::Tensor && v.tensor.numel() > 0) {
    const PickledTensor& t = v.tensor;
    int64_t last = t.offset;
    for (size_t k = 0; k < t.shape.size(); ++k) last += (t.shape[k] - 1) * t.strides[k];
    const size_t esz = storage_type_size(t.dtype);
    sum += t.storage[static_cast<size_t>(t.offset) * esz] + t.storage[static_cast<size_t>(last) * esz + esz - 1];
  }
  for (const PickleRef& i : v.items) sum += touch(*i, depth + 1);
  for (const auto& [k, x] : v.entries) sum += touch(*x, depth + 1);
  return sum;
}

TEST(CheckpointFuzz, MutatedArchivesLoadOrFailWithANamedError) {
  std::mt19937_64 rng(21);
  auto below = [&](size_t n) { return n == 0 ? size_t{0} : std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const std::vector<Bytes> seeds = {seed_pt(false, false), seed_pt(true, true)};
  const auto start = std::chrono::steady_clock::now();
  int loaded = 0, refused = 0;
  uint64_t checksum = 0;
  for (int iter = 0; iter < 40000; ++iter) {
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(4)) break;
    Bytes b = seeds[below(seeds.size())];
    const int edits = 1 + static_cast<int>(below(4));
    for (int e = 0; e < edits; ++e) {
      switch (below(5)) {
        case 0: b[below(b.size())] ^= static_cast<uint8_t>(1u << below(8)); break;
        case 1: b[below(b.size())] = static_cast<uint8_t>(below(256)); break;
        case 2: b.resize(below(b.size() + 1)); if (b.empty()) b.push_back(0); break;
        case 3: {  // saturate or zero a 4-byte field
          const size_t at = below(b.size() > 4 ? b.size() - 4 : 1);
          const uint8_t v = below(2) ? 0xff : 0;
          for (size_t k = 0; k < 4 && at + k < b.size(); ++k) b[at + k] = v;
          break;
        }
        case 4: {  // opcode-level damage inside the pickle (it is the first entry)
          const size_t at = 64 + below(400);
          if (at < b.size()) b[at] = static_cast<uint8_t>("()tRQhjqrKMX}]uaseb.\x80\x85\x8a"[below(23)]);
          break;
        }
      }
    }
    try {
      PtFile f = PtFile::from_zip(ZipArchive::from_bytes("fuzz.pt", b.data(), b.size()));
      checksum += touch(f.root());
      ++loaded;
    } catch (const Error& e) {
      ASSERT_EQ(std::string(e.what()).rfind("fuzz.pt", 0), 0u) << e.what();
      ++refused;
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iter << ": not a wl::Error: " << e.what();
    }
  }
  EXPECT_GT(loaded, 0);
  EXPECT_GT(refused, 100);
  RecordProperty("checksum", std::to_string(checksum));
}

TEST(CheckpointFuzz, SeedsLoadAndTheirTensorsRead) {
  for (bool zip64 : {false, true}) {
    const Bytes img = seed_pt(zip64, zip64);
    PtFile f = PtFile::from_zip(ZipArchive::from_bytes("seed.pt", img.data(), img.size()));
    const PickleValue* g = f.root().find("generator");
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->entries.size(), 3u);
  }
}

}  // namespace
}  // namespace wl
