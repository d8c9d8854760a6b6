// Checkpoint formats (issue 21, "Formats"): the golden look-alikes load name
// by name to their expected state dicts, and the further layouts the
// acceptance runs are generated here byte by byte (tests/support/
// torch_save_writer.h): the ZIP64 form, _rebuild_from_type_v2 tensors with a
// view into a shared storage and a transposed one, training states, an
// EMA-only f32 file, a bare PEFT LoRA, sharded diffusers folders and HF umT5
// names. The golden look-alikes are copies in tests/data/ckpt/.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "runtime/core/error.h"
#include "runtime/core/lora.h"
#include "runtime/core/model_detect.h"
#include "runtime/model/dit_config.h"
#include "runtime/core/pt_file.h"
#include "runtime/core/safetensors.h"
#include "runtime/core/weight_map.h"
#include "runtime/core/weight_names.h"
#include "runtime/core/zip_archive.h"
#include "tests/support/golden.h"
#include "tests/support/torch_save_writer.h"

namespace wl {
namespace {

namespace fs = std::filesystem;
using test::Bytes;
using test::PickleOut;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT A wl::Error: ") + e.what();
  }
  return "no error";
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

// The public checkpoint look-alikes (../shared/golden/ckpt), copied into tests/data/ckpt/.
std::string golden_ckpt(const std::string& name) { return test::data_path("ckpt/" + name); }

// A missing copy is a failure, not a skip.
#define REQUIRE_GOLDEN() ASSERT_TRUE(fs::exists(golden_ckpt("sf_like.pt"))) << golden_ckpt("sf_like.pt") << " is missing"

Tensor ramp(const Shape& shape, float start, float step = 0.25f) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + step * static_cast<float>(i);
  return Tensor::from_floats(v, shape);
}

const char* storage_class(DType t) {
  return t == DType::F32 ? "FloatStorage" : t == DType::BF16 ? "BFloat16Storage" : "HalfStorage";
}

// Writes nested state dicts into a pickle; each tensor gets its own storage.
class PtBuilder {
 public:
  PtBuilder() { begin(false); }
  void begin(bool ordered) {
    if (ordered) p.ordered_dict();
    else p.empty_dict();
    p.mark();
  }
  void end() { p.op('u'); }
  void key(const std::string& k) { p.str(k); }
  void tensor(const std::string& k, const Tensor& t, bool from_type_v2 = false) {
    key(k);
    const std::string storage = std::to_string(storages.size());
    storages.emplace_back(storage, test::tensor_bytes(t));
    p.tensor(storage_class(t.dtype()), storage, t.numel(), 0, t.shape(), test::contiguous_strides(t.shape()), from_type_v2);
  }
  void state_dict(const std::vector<std::pair<std::string, Tensor>>& tensors, bool ordered = true, bool from_type_v2 = false) {
    begin(ordered);
    for (const auto& [n, t] : tensors) tensor(n, t, from_type_v2);
    end();
  }
  Bytes finish(const std::string& prefix = "archive", bool zip64 = false) {
    end();
    p.stop();
    return test::make_pt(prefix, p.bytes, storages, zip64);
  }
  PickleOut p;
  std::vector<std::pair<std::string, Bytes>> storages;
};

std::string temp_file(const std::string& name) {
  static const std::string dir = test::temp_dir();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return dir + "/" + info->name() + "_" + name;
}

std::string write_temp(const std::string& name, const Bytes& bytes) {
  const std::string path = temp_file(name);
  test::write_file(path, bytes);
  return path;
}

void expect_same(const Tensor& got, const Tensor& want, const std::string& name) {
  ASSERT_EQ(got.shape(), want.shape()) << name;
  EXPECT_EQ(got.to_floats(), want.to_floats()) << name;
}

// A small DiT-like state dict (canonical names).
std::vector<std::pair<std::string, Tensor>> tiny_dit(DType dtype = DType::F32) {
  std::vector<std::pair<std::string, Tensor>> out;
  auto add = [&](const std::string& n, const Shape& s, float start) {
    Tensor t = ramp(s, start, 0.125f);
    out.emplace_back(n, dtype == DType::F32 ? t : t.to(dtype));
  };
  add("patch_embedding.weight", {8, 4, 1, 2, 2}, -1.0f);
  add("blocks.0.self_attn.q.weight", {8, 8}, 0.5f);
  add("blocks.0.self_attn.q.bias", {8}, 0.0f);
  add("blocks.0.cross_attn.o.weight", {8, 8}, -2.0f);
  add("blocks.0.ffn.0.weight", {16, 8}, 1.0f);
  add("blocks.0.ffn.2.weight", {8, 16}, -1.5f);
  add("blocks.0.norm3.weight", {8}, 1.0f);
  add("blocks.0.modulation", {1, 6, 8}, 0.25f);
  add("head.head.weight", {16, 8}, 0.75f);
  add("head.modulation", {1, 2, 8}, 0.0f);
  add("time_embedding.0.weight", {8, 4}, 0.0f);
  return out;
}

std::vector<std::pair<std::string, Tensor>> prefixed(const std::string& prefix,
                                                     const std::vector<std::pair<std::string, Tensor>>& in) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [n, t] : in) out.emplace_back(prefix + n, t);
  return out;
}

void expect_map_equals(const WeightMap& w, const std::vector<std::pair<std::string, Tensor>>& want) {
  std::vector<std::string> names;
  for (const auto& [n, t] : want) names.push_back(n);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(w.names(), names);
  for (const auto& [n, t] : want)
    if (w.has(n)) expect_same(w.get(n), t, n);
}

// ---------------------------------------------------------------------------
// Golden look-alikes

void expect_loads_to_expected(const std::string& input, const std::string& expected, const WeightOptions& options = {},
                              double tolerance = 0.0) {
  const WeightMap got = WeightMap::open(golden_ckpt(input), options);
  const SafetensorsFile want = SafetensorsFile::open(golden_ckpt(expected));
  std::vector<std::string> want_names = want.names();
  std::sort(want_names.begin(), want_names.end());
  ASSERT_EQ(got.names(), want_names) << input;
  for (const std::string& n : want_names) {
    const std::vector<float> g = got.get(n).to_floats(), e = want.get_f32(n).to_floats();
    ASSERT_EQ(g.size(), e.size()) << n;
    ASSERT_EQ(got.info(n).shape, want.info(n).shape) << n;
    if (tolerance == 0.0) {
      EXPECT_EQ(g, e) << input << ": " << n;
    } else {
      double num = 0, den = 0;
      for (size_t i = 0; i < g.size(); ++i) {
        num += (double(g[i]) - e[i]) * (double(g[i]) - e[i]);
        den += double(e[i]) * e[i];
      }
      EXPECT_LE(std::sqrt(num / std::max(den, 1e-30)), tolerance) << input << ": " << n;
    }
  }
}

TEST(CheckpointGolden, SelfForcingLikePicksGeneratorEma) {
  REQUIRE_GOLDEN();
  expect_loads_to_expected("sf_like.pt", "sf_like.expected.safetensors");
  const WeightMap w = WeightMap::open(golden_ckpt("sf_like.pt"));
  EXPECT_EQ(w.container(), "generator_ema");
  EXPECT_EQ(w.info("head.head.weight").dtype, DType::BF16);
}

TEST(CheckpointGolden, SafetensorsLookAlikes) {
  REQUIRE_GOLDEN();
  expect_loads_to_expected("wan_original_like.safetensors", "wan_original_like.expected.safetensors");
  expect_loads_to_expected("mg2_like.safetensors", "mg2_like.expected.safetensors");
}

TEST(CheckpointGolden, UmT5LikePth) {
  REQUIRE_GOLDEN();
  expect_loads_to_expected("t5_like.pth", "t5_like.expected.safetensors");
}

TEST(CheckpointGolden, LongLiveLoraMergesWithTheAlphaOfTheMetadata) {
  REQUIRE_GOLDEN();
  const SafetensorsFile want = SafetensorsFile::open(golden_ckpt("longlive_like.expected.safetensors"));
  const double alpha = std::stod(want.metadata().at("lora_alpha"));
  const double rank = std::stod(want.metadata().at("lora_rank"));
  ASSERT_DOUBLE_EQ(alpha / rank, std::stod(want.metadata().at("lora_scale")));
  WeightOptions o;
  o.loras.push_back({golden_ckpt("longlive_like_lora.pt"), 1.0});
  o.lora_alpha = alpha;
  expect_loads_to_expected("longlive_like_base.pt", "longlive_like.expected.safetensors", o, 1e-6);
  // SCALE multiplies alpha / r: alpha = r with scale 2 is the same merge.
  WeightOptions same;
  same.loras.push_back(parse_lora_argument(golden_ckpt("longlive_like_lora.pt") + ":2"));
  expect_loads_to_expected("longlive_like_base.pt", "longlive_like.expected.safetensors", same, 1e-6);
  // The default alpha = r misses the expected weights (the test can fail).
  WeightOptions plain;
  plain.loras.push_back({golden_ckpt("longlive_like_lora.pt"), 1.0});
  const WeightMap merged = WeightMap::open(golden_ckpt("longlive_like_base.pt"), plain);
  EXPECT_GT(test::relative_l2(merged.get("blocks.0.ffn.0.weight"), want.get("blocks.0.ffn.0.weight")), 1e-4);
  EXPECT_EQ(merged.info("blocks.0.ffn.0.weight").dtype, DType::F32);
  EXPECT_EQ(merged.merged_loras().size(), 1u);
}

TEST(CheckpointGolden, LoraFileAsBaseSaysWhatItIs) {
  REQUIRE_GOLDEN();
  EXPECT_CONTAINS(error_of([] { WeightMap::open(golden_ckpt("longlive_like_lora.pt")); }), "a LoRA file");
  const LoraSet set = read_lora(golden_ckpt("longlive_like_lora.pt"));
  EXPECT_EQ(set.container, "generator_lora");
  EXPECT_EQ(set.rank, 4);
  EXPECT_EQ(set.pairs.size(), 20u);
}

// The ZIP64 form of the golden file: same entries, every field saturated.
TEST(CheckpointGolden, Zip64FormOfSelfForcingLike) {
  REQUIRE_GOLDEN();
  const ZipArchive z = ZipArchive::open(golden_ckpt("sf_like.pt"));
  std::vector<std::pair<std::string, Bytes>> entries;
  for (const ZipEntry& e : z.entries()) entries.emplace_back(e.name, Bytes(z.data(e), z.data(e) + e.size));
  const std::string path = write_temp("sf_like_zip64.pt", test::make_zip(entries, true));
  const WeightMap a = WeightMap::open(golden_ckpt("sf_like.pt"));
  const WeightMap b = WeightMap::open(path);
  ASSERT_EQ(a.names(), b.names());
  for (const std::string& n : a.names()) expect_same(b.get(n), a.get(n), n);
}

// ---------------------------------------------------------------------------
// ZIP reader

TEST(ZipArchive, ClassicAndZip64FormsAgreeAndDataIsAligned) {
  const std::vector<std::pair<std::string, Bytes>> entries = {
      {"a/data.pkl", Bytes{1, 2, 3}}, {"a/data/0", Bytes(100, 7)}, {"a/version", Bytes{'3', '\n'}}};
  for (bool zip64 : {false, true}) {
    const Bytes img = test::make_zip(entries, zip64);
    const ZipArchive z = ZipArchive::from_bytes("t.zip", img.data(), img.size());
    ASSERT_EQ(z.entries().size(), 3u);
    const ZipEntry* e = z.find("a/data/0");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->size, 100u);
    EXPECT_EQ(e->data_offset % 64, 0u);
    EXPECT_EQ(z.data(*e)[99], 7);
  }
}

TEST(ZipArchive, TruncatedFilesAreNamedErrors) {
  const Bytes img = test::make_zip({{"a/data.pkl", Bytes(300, 1)}, {"a/data/0", Bytes(1000, 2)}}, true);
  for (size_t cut : {size_t{0}, size_t{10}, size_t{100}, img.size() / 2, img.size() - 30, img.size() - 1}) {
    const Bytes part(img.begin(), img.begin() + static_cast<std::ptrdiff_t>(cut));
    const std::string msg = error_of([&] { ZipArchive::from_bytes("cut.pt", part.data(), part.size()); });
    EXPECT_CONTAINS(msg, "cut.pt: ");
    EXPECT_EQ(msg.find("NOT A"), std::string::npos) << msg;
  }
}

// Offsets of fields in the image written by make_zip (one entry, classic form).
struct OneEntryZip {
  Bytes img = test::make_zip({{"a/data.pkl", Bytes(64, 1)}});
  size_t central() const {
    for (size_t i = img.size() - 4; i-- > 0;)
      if (img[i] == 0x50 && img[i + 1] == 0x4b && img[i + 2] == 1 && img[i + 3] == 2) return i;
    return 0;
  }
  std::string error() const { return error_of([&] { ZipArchive::from_bytes("bad.pt", img.data(), img.size()); }); }
};

TEST(ZipArchive, CorruptDirectoriesAreNamedErrors) {
  {
    OneEntryZip z;
    z.img[z.central() + 10] = 8;  // method: deflate
    EXPECT_CONTAINS(z.error(), "is compressed (method 8)");
  }
  {
    OneEntryZip z;
    z.img[z.central()] = 0;  // signature
    EXPECT_CONTAINS(z.error(), "bad signature");
  }
  {
    OneEntryZip z;
    z.img[z.central() + 24] = 0xff;  // uncompressed size far past the file
    z.img[z.central() + 25] = 0xff;
    z.img[z.central() + 20] = 0xff;
    z.img[z.central() + 21] = 0xff;
    EXPECT_CONTAINS(z.error(), "runs past the data area");
  }
  {
    OneEntryZip z;
    z.img[z.central() + 42] = 0x40;  // local header offset inside the data
    EXPECT_CONTAINS(z.error(), "bad local header signature");
  }
  {
    OneEntryZip z;
    z.img[z.central() + 24] = 0xff;  // saturated, no ZIP64 extra
    z.img[z.central() + 25] = 0xff;
    z.img[z.central() + 26] = 0xff;
    z.img[z.central() + 27] = 0xff;
    EXPECT_CONTAINS(z.error(), "no ZIP64 extra field");
  }
  {
    const Bytes img = test::make_zip({{"x", Bytes(64, 1)}, {"x", Bytes(64, 2)}});
    EXPECT_CONTAINS(error_of([&] { ZipArchive::from_bytes("dup.pt", img.data(), img.size()); }), "appears twice");
  }
  {
    const Bytes junk(100, 0x41);
    EXPECT_CONTAINS(error_of([&] { ZipArchive::from_bytes("junk.pt", junk.data(), junk.size()); }),
                    "no ZIP end-of-central-directory record");
  }
}

TEST(ZipArchive, OverlappingEntriesAreRefused) {
  Bytes img = test::make_zip({{"a", Bytes(64, 1)}, {"b", Bytes(64, 2)}});
  // Point b's central entry at a's local header: same data range.
  size_t first = 0, second = 0;
  for (size_t i = 0; i + 4 <= img.size(); ++i)
    if (img[i] == 0x50 && img[i + 1] == 0x4b && img[i + 2] == 1 && img[i + 3] == 2) (first ? second : first) = i;
  ASSERT_NE(second, 0u);
  std::copy(img.begin() + static_cast<std::ptrdiff_t>(first + 42), img.begin() + static_cast<std::ptrdiff_t>(first + 46),
            img.begin() + static_cast<std::ptrdiff_t>(second + 42));
  EXPECT_CONTAINS(error_of([&] { ZipArchive::from_bytes("overlap.pt", img.data(), img.size()); }), "overlap");
}

// ---------------------------------------------------------------------------
// Further layouts

TEST(CheckpointLayouts, EmaOnlyF32IsZeroCopy) {
  PtBuilder b;
  b.key("generator_ema");
  b.state_dict(prefixed("model.", tiny_dit()), /*ordered=*/false);
  const std::string path = write_temp("sf_ema_f32_like.pt", b.finish("sf_ema_f32_like"));
  const WeightMap w = WeightMap::open(path);
  expect_map_equals(w, tiny_dit());
  EXPECT_EQ(w.container(), "generator_ema");
  // Zero copy: two reads of a mapped f32 tensor share its bytes.
  EXPECT_EQ(w.get("head.head.weight").raw(), w.get("head.head.weight").raw());
}

TEST(CheckpointLayouts, Zip64FormLoadsLikeTheClassicOne) {
  for (bool zip64 : {false, true}) {
    PtBuilder b;
    b.key("generator");
    b.state_dict(prefixed("model.", tiny_dit(DType::BF16)));
    b.key("generator_ema");
    b.state_dict(prefixed("model.", tiny_dit(DType::BF16)), false);
    const std::string path = write_temp(zip64 ? "z64.pt" : "classic.pt", b.finish("sf_like", zip64));
    expect_map_equals(WeightMap::open(path), tiny_dit(DType::BF16));
  }
}

TEST(CheckpointLayouts, RebuildFromTypeV2ViewsTransposesAndTrainingEntries) {
  // cf_like: {'generator': OrderedDict of _rebuild_from_type_v2 tensors, one a view
  // at offset 256 into a 384-element storage, one transposed (stride (1, 5)),
  // 'critic': {...}, 'step': 1234}.
  PtBuilder b;
  b.key("generator");
  b.begin(true);
  for (const auto& [n, t] : prefixed("model.", tiny_dit())) b.tensor(n, t, true);
  const Tensor shared = ramp({384}, -10.0f, 0.5f);
  b.storages.emplace_back("shared", test::tensor_bytes(shared));
  b.key("model.blocks.0.norm_view.weight");
  b.p.tensor("FloatStorage", "shared", 384, 256, {128}, {1}, true);
  b.key("model.blocks.0.front.weight");  // the same storage again (memo-free second reference)
  b.p.tensor("FloatStorage", "shared", 384, 0, {2, 128}, {128, 1}, true);
  const Tensor base = ramp({8, 5}, 3.0f, 1.0f);  // [8, 5] contiguous; its transpose is [5, 8] stride (1, 5)
  b.storages.emplace_back("t", test::tensor_bytes(base));
  b.key("model.blocks.0.transposed.weight");
  b.p.tensor("FloatStorage", "t", 40, 0, {5, 8}, {1, 5}, true);
  b.end();
  b.key("critic");
  b.state_dict(prefixed("model.", tiny_dit()), true, true);
  b.key("step");
  b.p.integer(1234);
  const std::string path = write_temp("cf_like.pt", b.finish("cf_like"));

  const WeightMap w = WeightMap::open(path);
  EXPECT_EQ(w.container(), "generator");
  const std::vector<float> view = w.get("blocks.0.norm_view.weight").to_floats();
  ASSERT_EQ(view.size(), 128u);
  for (size_t i = 0; i < 128; ++i) EXPECT_EQ(view[i], -10.0f + 0.5f * float(256 + i));
  EXPECT_EQ(w.get("blocks.0.front.weight").to_floats()[200], -10.0f + 0.5f * 200);
  const Tensor tr = w.get("blocks.0.transposed.weight");
  ASSERT_EQ(tr.shape(), (Shape{5, 8}));
  const std::vector<float> trv = tr.to_floats();
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 8; ++j) EXPECT_EQ(trv[i * 8 + j], 3.0f + float(j * 5 + i)) << i << "," << j;
  for (const auto& [n, t] : tiny_dit()) expect_same(w.get(n), t, n);
  bool critic_skipped = false, step_skipped = false;
  for (const std::string& s : w.skipped()) {
    critic_skipped |= s.rfind("critic", 0) == 0;
    step_skipped |= s.rfind("step (int 1234", 0) == 0;
  }
  EXPECT_TRUE(critic_skipped);
  EXPECT_TRUE(step_skipped);
}

TEST(CheckpointLayouts, RollingForcingLikePicksEma) {
  auto ema = tiny_dit();
  for (auto& [n, t] : ema) t = ramp(t.shape(), 7.0f);
  PtBuilder b;
  b.key("generator");
  b.state_dict(prefixed("model.", tiny_dit()));
  b.key("critic");
  b.state_dict(prefixed("model.", tiny_dit()));
  b.key("generator_ema");
  b.state_dict(prefixed("model.", ema));
  expect_map_equals(WeightMap::open(write_temp("rf_like.pt", b.finish("rf_like"))), ema);
}

TEST(CheckpointLayouts, TrainingStateWithoutGeneratorAsksForWeightsKey) {
  PtBuilder b;
  b.key("critic");
  b.state_dict(tiny_dit());
  b.key("fancy_ema");
  b.state_dict(tiny_dit());
  b.key("step");
  b.p.integer(7);
  const std::string path = write_temp("state.pt", b.finish());
  const std::string msg = error_of([&] { WeightMap::open(path); });
  EXPECT_CONTAINS(msg, path + ": a training state");
  EXPECT_CONTAINS(msg, "pass --weights-key critic");
  WeightOptions o;
  o.weights_key = "fancy_ema";
  expect_map_equals(WeightMap::open(path, o), tiny_dit());
  o.weights_key = "nope";
  EXPECT_CONTAINS(error_of([&] { WeightMap::open(path, o); }), "has no dict 'nope'");
}

TEST(CheckpointLayouts, ModelContainerAndWrapperPrefixes) {
  PtBuilder b;
  b.key("model");
  b.begin(true);
  b.tensor("_orig_mod.model._fsdp_wrapped_module.blocks.0.self_attn.q.weight", ramp({2, 2}, 1.0f));
  b.tensor("_fsdp_wrapped_module.head.head.weight", ramp({3}, 2.0f));
  b.end();
  const WeightMap w = WeightMap::open(write_temp("wrapped.pt", b.finish()));
  EXPECT_EQ(w.names(), (std::vector<std::string>{"blocks.0.self_attn.q.weight", "head.head.weight"}));
  EXPECT_EQ(w.container(), "model");
}

TEST(CheckpointLayouts, TopLevelStateDict) {
  PtBuilder b;  // the top level is the state dict (umT5's .pth)
  for (const auto& [n, t] : tiny_dit(DType::F16)) b.tensor(n, t);
  const WeightMap w = WeightMap::open(write_temp("plain.pth", b.finish("plain")));
  expect_map_equals(w, tiny_dit(DType::F16));
  EXPECT_EQ(w.info("head.head.weight").dtype, DType::F16);
}

TEST(CheckpointNames, DiffusersRowsOfTheSpec) {
  const std::map<std::string, std::string> rows = {
      {"condition_embedder.time_embedder.linear_1.weight", "time_embedding.0.weight"},
      {"condition_embedder.time_embedder.linear_2.bias", "time_embedding.2.bias"},
      {"condition_embedder.text_embedder.linear_1.weight", "text_embedding.0.weight"},
      {"condition_embedder.text_embedder.linear_2.weight", "text_embedding.2.weight"},
      {"condition_embedder.time_proj.weight", "time_projection.1.weight"},
      {"scale_shift_table", "head.modulation"},
      {"proj_out.weight", "head.head.weight"},
      {"blocks.3.scale_shift_table", "blocks.3.modulation"},
      {"blocks.0.ffn.net.0.proj.weight", "blocks.0.ffn.0.weight"},
      {"blocks.0.ffn.net.2.bias", "blocks.0.ffn.2.bias"},
      {"blocks.12.norm2.weight", "blocks.12.norm3.weight"},
      {"blocks.1.attn1.to_q.weight", "blocks.1.self_attn.q.weight"},
      {"blocks.1.attn1.to_out.0.bias", "blocks.1.self_attn.o.bias"},
      {"blocks.1.attn1.norm_k.weight", "blocks.1.self_attn.norm_k.weight"},
      {"blocks.1.attn2.to_v.weight", "blocks.1.cross_attn.v.weight"},
      {"blocks.1.attn2.to_out.0.weight", "blocks.1.cross_attn.o.weight"},
      {"blocks.1.attn2.norm_q.weight", "blocks.1.cross_attn.norm_q.weight"},
      {"patch_embedding.weight", "patch_embedding.weight"},
      {"condition_embedder.image_embedder.norm1.weight", "img_emb.proj.0.weight"},
      {"condition_embedder.image_embedder.ff.net.0.proj.weight", "img_emb.proj.1.weight"},
      {"condition_embedder.image_embedder.ff.net.2.weight", "img_emb.proj.3.weight"},
      {"condition_embedder.image_embedder.norm2.bias", "img_emb.proj.4.bias"},
  };
  for (const auto& [diffusers, wan] : rows) {
    EXPECT_EQ(canonical_name(NameScheme::Diffusers, diffusers).value_or("-"), wan) << diffusers;
    EXPECT_EQ(scheme_name(NameScheme::Diffusers, wan), diffusers) << wan;
  }
  EXPECT_EQ(detect_name_scheme({"patch_embedding.weight", "blocks.0.attn1.to_q.weight"}), NameScheme::Diffusers);
  EXPECT_EQ(detect_name_scheme({"patch_embedding.weight", "blocks.0.norm3.weight"}), NameScheme::Canonical);
}

TEST(CheckpointNames, HfUmt5Rows) {
  const std::map<std::string, std::string> rows = {
      {"shared.weight", "token_embedding.weight"},
      {"encoder.block.0.layer.0.SelfAttention.q.weight", "blocks.0.attn.q.weight"},
      {"encoder.block.23.layer.0.SelfAttention.o.weight", "blocks.23.attn.o.weight"},
      {"encoder.block.2.layer.0.SelfAttention.relative_attention_bias.weight", "blocks.2.pos_embedding.embedding.weight"},
      {"encoder.block.2.layer.0.layer_norm.weight", "blocks.2.norm1.weight"},
      {"encoder.block.2.layer.1.DenseReluDense.wi_0.weight", "blocks.2.ffn.gate.0.weight"},
      {"encoder.block.2.layer.1.DenseReluDense.wi_1.weight", "blocks.2.ffn.fc1.weight"},
      {"encoder.block.2.layer.1.DenseReluDense.wo.weight", "blocks.2.ffn.fc2.weight"},
      {"encoder.block.2.layer.1.layer_norm.weight", "blocks.2.norm2.weight"},
      {"encoder.final_layer_norm.weight", "norm.weight"},
  };
  for (const auto& [hf, wan] : rows) EXPECT_EQ(canonical_name(NameScheme::HfUmt5, hf).value_or("-"), wan) << hf;
  // A safetensors file in HF naming, embedding tied under two names.
  const std::string path = temp_file("hf_umt5.safetensors");
  write_safetensors(path, {{"shared.weight", ramp({10, 4}, 0.0f)},
                           {"encoder.embed_tokens.weight", ramp({10, 4}, 0.0f)},
                           {"encoder.block.0.layer.0.SelfAttention.q.weight", ramp({4, 4}, 1.0f)},
                           {"encoder.block.0.layer.1.layer_norm.weight", ramp({4}, 2.0f)},
                           {"encoder.final_layer_norm.weight", ramp({4}, 3.0f)}});
  const WeightMap w = WeightMap::open(path);
  EXPECT_EQ(w.names(), (std::vector<std::string>{"blocks.0.attn.q.weight", "blocks.0.norm2.weight",
                                                 "norm.weight", "token_embedding.weight"}));
  EXPECT_EQ(w.name_scheme(), "hf-transformers umT5");
  expect_same(w.get("norm.weight"), ramp({4}, 3.0f), "norm.weight");
}

TEST(CheckpointLayouts, ShardedDiffusersFolder) {
  const std::string dir = test::temp_dir() + "/transformer";
  fs::create_directories(dir);
  const auto dit = tiny_dit();
  std::vector<std::pair<std::string, Tensor>> shard[2];
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (size_t i = 0; i < dit.size(); ++i) {
    const std::string name = scheme_name(NameScheme::Diffusers, dit[i].first);
    const std::string file = "diffusion_pytorch_model-0000" + std::to_string(i % 2 + 1) + "-of-00002.safetensors";
    shard[i % 2].emplace_back(name, dit[i].second);
    index["weight_map"][name] = file;
  }
  EXPECT_EQ(index["weight_map"].count("blocks.0.norm2.weight"), 1u);  // really in diffusers naming
  write_safetensors(dir + "/diffusion_pytorch_model-00001-of-00002.safetensors", shard[0]);
  write_safetensors(dir + "/diffusion_pytorch_model-00002-of-00002.safetensors", shard[1]);
  std::ofstream(dir + "/diffusion_pytorch_model.safetensors.index.json") << index.dump();
  std::ofstream(dir + "/config.json") << R"({"_class_name": "WanTransformer3DModel", "num_layers": 1})";
  for (const std::string& input : {dir, dir + "/diffusion_pytorch_model.safetensors.index.json"}) {
    const WeightMap w = WeightMap::open(input);
    expect_map_equals(w, dit);
    EXPECT_EQ(w.name_scheme(), "diffusers");
    EXPECT_CONTAINS(w.format(), "2 shards");
  }
  // An index naming a shard that lacks the tensor.
  index["weight_map"]["extra.weight"] = "diffusion_pytorch_model-00001-of-00002.safetensors";
  std::ofstream(dir + "/diffusion_pytorch_model.safetensors.index.json") << index.dump();
  EXPECT_CONTAINS(error_of([&] { WeightMap::open(dir); }), "lists tensor 'extra.weight' in this shard");
  // The pipeline folder above it says which subfolder to pass.
  EXPECT_CONTAINS(error_of([&] { WeightMap::open(fs::path(dir).parent_path().string()); }), "pass its transformer/");
}

TEST(CheckpointLayouts, Fp8IsRefusedByName) {
  const std::string header = R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})";
  Bytes img;
  for (int i = 0; i < 8; ++i) img.push_back(static_cast<uint8_t>(header.size() >> (8 * i)));
  img.insert(img.end(), header.begin(), header.end());
  img.resize(img.size() + 4, 0);
  const std::string path = write_temp("fp8.safetensors", img);
  EXPECT_CONTAINS(error_of([&] { WeightMap::open(path); }), "unsupported dtype 'F8_E4M3'");
}

// ---------------------------------------------------------------------------
// LoRA

// W + (alpha / r) * scale * B A in double.
std::vector<float> merged_by_hand(const Tensor& w, const Tensor& a, const Tensor& b, double factor) {
  const std::vector<float> wv = w.to_floats(), av = a.to_floats(), bv = b.to_floats();
  const int64_t out = w.dim(0), in = w.dim(1), r = a.dim(0);
  std::vector<float> res(wv.size());
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      double s = 0;
      for (int64_t k = 0; k < r; ++k) s += double(bv[o * r + k]) * av[k * in + i];
      res[o * in + i] = float(wv[o * in + i] + factor * s);
    }
  return res;
}

TEST(CheckpointLora, BarePeftDictRankTwoWithBothKeyForms) {
  const auto base = tiny_dit(DType::BF16);
  PtBuilder bb;
  bb.key("generator");
  bb.state_dict(prefixed("model.", base));
  const std::string base_path = write_temp("longlive_b_like_base.pt", bb.finish("longlive_b_like_base"));

  const Tensor a_q = ramp({2, 8}, 0.1f, 0.01f), b_q = ramp({8, 2}, -0.2f, 0.03f);
  const Tensor a_f = ramp({2, 8}, -0.3f, 0.02f), b_f = ramp({16, 2}, 0.05f, -0.01f);
  PtBuilder lb;  // a bare PEFT state dict at the top level
  lb.tensor("base_model.model.blocks.0.self_attn.q.lora_A.weight", a_q);
  lb.tensor("base_model.model.blocks.0.self_attn.q.lora_B.weight", b_q);
  lb.tensor("base_model.model.model.blocks.0.ffn.0.lora_A.default.weight", a_f);
  lb.tensor("base_model.model.model.blocks.0.ffn.0.lora_B.default.weight", b_f);
  const std::string lora_path = write_temp("longlive_b_like_lora.pt", lb.finish("longlive_b_like_lora"));

  const LoraSet set = read_lora(lora_path);
  ASSERT_EQ(set.pairs.size(), 2u);
  EXPECT_EQ(set.rank, 2);
  EXPECT_EQ(set.pairs[0].module, "blocks.0.ffn.0");

  WeightOptions o;
  o.loras.push_back({lora_path, 1.0});  // alpha defaults to r: factor 1
  o.lora_alpha = 2.0;
  const WeightMap w = WeightMap::open(base_path, o);
  const std::map<std::string, Tensor> b(base.begin(), base.end());
  const std::vector<float> q = w.get("blocks.0.self_attn.q.weight").to_floats();
  const std::vector<float> q_want = merged_by_hand(b.at("blocks.0.self_attn.q.weight"), a_q, b_q, 1.0);
  for (size_t i = 0; i < q.size(); ++i) EXPECT_NEAR(q[i], q_want[i], 1e-6 * std::max(1.0f, std::fabs(q_want[i])));
  expect_same(w.get("blocks.0.ffn.2.weight"), b.at("blocks.0.ffn.2.weight"), "untouched");

  // Two LoRAs, scales and an alpha: factors add up.
  WeightOptions two;
  two.loras = {parse_lora_argument(lora_path + ":0.5"), parse_lora_argument(lora_path + ":1.5")};
  two.lora_alpha = 4.0;  // alpha / r = 2
  const std::vector<float> f = WeightMap::open(base_path, two).get("blocks.0.ffn.0.weight").to_floats();
  const std::vector<float> f_want = merged_by_hand(b.at("blocks.0.ffn.0.weight"), a_f, b_f, 2.0 * (0.5 + 1.5));
  for (size_t i = 0; i < f.size(); ++i) EXPECT_NEAR(f[i], f_want[i], 1e-5 * std::max(1.0f, std::fabs(f_want[i])));
  EXPECT_CONTAINS(error_of([] { parse_lora_argument("x.pt:abc"); }), "must be a number");
}

TEST(CheckpointLora, RefusesOtherTargetsAndMissingWeights) {
  PtBuilder lb;
  lb.tensor("base_model.model.head.head.lora_A.weight", ramp({2, 8}, 0.0f));
  lb.tensor("base_model.model.head.head.lora_B.weight", ramp({16, 2}, 0.0f));
  const std::string bad = write_temp("head_lora.pt", lb.finish());
  EXPECT_CONTAINS(error_of([&] { read_lora(bad); }), "targets 'head.head', which is not a LoRA target");

  PtBuilder half;
  half.key("generator_lora");
  half.begin(true);
  half.tensor("base_model.model.blocks.0.self_attn.k.lora_A.weight", ramp({2, 8}, 0.0f));
  half.end();
  const std::string lonely = write_temp("half.pt", half.finish());
  EXPECT_CONTAINS(error_of([&] { read_lora(lonely); }), "has lora_A but no lora_B");

  PtBuilder big;
  big.tensor("base_model.model.blocks.7.self_attn.k.lora_A.weight", ramp({2, 8}, 0.0f));
  big.tensor("base_model.model.blocks.7.self_attn.k.lora_B.weight", ramp({8, 2}, 0.0f));
  const std::string lora7 = write_temp("b7.pt", big.finish());
  PtBuilder bb;
  for (const auto& [n, t] : tiny_dit()) bb.tensor(n, t);
  const std::string base = write_temp("base.pt", bb.finish());
  WeightOptions o;
  o.loras.push_back({lora7, 1.0});
  EXPECT_CONTAINS(error_of([&] { WeightMap::open(base, o); }), "has no tensor 'blocks.7.self_attn.k.weight'");
  PtBuilder none;
  none.tensor("x.weight", ramp({2}, 0.0f));
  const std::string not_lora = write_temp("nolora.pt", none.finish());
  EXPECT_CONTAINS(error_of([&] { read_lora(not_lora); }), "not a LoRA file");
}

}  // namespace
}  // namespace wl

namespace wl {
namespace {

TEST(CheckpointDetect, ModelsAndConfigsFromShapes) {
  REQUIRE_GOLDEN();
  const DetectedModel dit = detect_model(WeightMap::open(golden_ckpt("sf_like.pt")));
  EXPECT_EQ(dit.kind, ModelKind::CausalDit);
  EXPECT_EQ(dit.parameters, 147200);
  const std::map<std::string, std::string> c(dit.config.begin(), dit.config.end());
  EXPECT_EQ(c.at("dim"), "64");
  EXPECT_EQ(c.at("layers"), "2");
  EXPECT_EQ(c.at("patch"), "1x2x2");
  EXPECT_EQ(c.at("text dim"), "32");
  const DetectedModel mg2 = detect_model(WeightMap::open(golden_ckpt("mg2_like.safetensors")));
  EXPECT_EQ(mg2.kind, ModelKind::Mg2Dit);
  const std::map<std::string, std::string> m(mg2.config.begin(), mg2.config.end());
  EXPECT_CONTAINS(m.at("action module"), "keyboard 4, mouse");
  EXPECT_CONTAINS(m.at("image conditioning"), "36 in channels");
  EXPECT_EQ(detect_model(WeightMap::open(golden_ckpt("t5_like.pth"))).kind, ModelKind::Umt5);
  EXPECT_EQ(detect_model(WeightMap::open(test::data_path("wanvae_tiny.weights.safetensors"))).kind, ModelKind::WanVae);
  EXPECT_EQ(detect_model(WeightMap::open(test::data_path("taehv_tiny.weights.safetensors"))).kind, ModelKind::Taehv);
  EXPECT_EQ(detect_model(WeightMap::open(test::data_path("clip_vit_tiny.weights.safetensors"))).kind, ModelKind::ClipVision);
  // A DiT loader given the VAE says what it got.
  const std::string vae = test::data_path("wanvae_tiny.weights.safetensors");
  EXPECT_EQ(error_of([&] { expect_model(WeightMap::open(vae), ModelKind::CausalDit); }),
            vae + ": this is a Wan 2.1 VAE, not a DiT");
  EXPECT_EQ(error_of([&] { DitConfig::from_weights(WeightMap::open(vae)); }), vae + ": this is a Wan 2.1 VAE, not a DiT");
  EXPECT_CONTAINS(error_of([&] { DitConfig::from_weights(WeightMap::open(golden_ckpt("t5_like.pth"))); }),
                  "this is a umT5 text encoder, not a DiT");
}

}  // namespace
}  // namespace wl
