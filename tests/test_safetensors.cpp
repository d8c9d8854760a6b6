// safetensors reader/writer: round trips, the real test checkpoint, WeightMap
// name rules, and one test per kind of malformed file (each checks that the
// error names the file and the specific problem).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"

namespace wl {
namespace {

namespace fs = std::filesystem;

// A per-process, per-test path so parallel test runs never share files.
std::string temp_path(const std::string& name) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string stem = std::string(test->test_suite_name()) + "." + test->name();
  return (fs::temp_directory_path() / ("wl_st_" + std::to_string(::getpid()) + "_" + stem + "_" + name)).string();
}

struct TempFile {
  explicit TempFile(const std::string& name) : path(temp_path(name)) {}
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
  std::string path;
};

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A hand-made image: length field (the header's size unless overridden), header, zeroed data.
std::vector<uint8_t> image(const std::string& header, size_t data_bytes, int64_t declared_len = -1) {
  std::vector<uint8_t> out;
  put_u64(out, declared_len < 0 ? header.size() : static_cast<uint64_t>(declared_len));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

// The wl::Error message `fn` throws; a test failure when it throws nothing or something else.
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected wl::Error, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected wl::Error, nothing was thrown";
  return {};
}

constexpr const char* kLabel = "bad.safetensors";

// Loads `bytes` from memory and checks the error names the file and contains every word.
void expect_rejected(const std::vector<uint8_t>& bytes, const std::vector<std::string>& words) {
  std::string msg = error_of([&] { SafetensorsFile::from_bytes(kLabel, bytes.data(), bytes.size()); });
  EXPECT_EQ(msg.rfind(std::string(kLabel) + ": ", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  for (const auto& w : words) EXPECT_NE(msg.find(w), std::string::npos) << "missing '" << w << "' in: " << msg;
}

// The same through a real file on disk, so the message names the path.
void expect_file_rejected(const std::vector<uint8_t>& bytes, const std::vector<std::string>& words) {
  TempFile f("bad.safetensors");
  write_all(f.path, bytes);
  std::string msg = error_of([&] { SafetensorsFile::open(f.path); });
  EXPECT_EQ(msg.rfind(f.path + ": ", 0), 0u) << msg;
  for (const auto& w : words) EXPECT_NE(msg.find(w), std::string::npos) << "missing '" << w << "' in: " << msg;
}

Tensor ramp(const Shape& shape, float start, DType dtype) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + 0.25f * static_cast<float>(i);
  return Tensor::from_floats(v, shape).to(dtype);
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  auto p = static_cast<const uint8_t*>(t.raw());
  return {p, p + t.nbytes()};
}

// ---------------------------------------------------------------------------
// Round trips

TEST(SafetensorsRoundTrip, F32Bf16F16AndMetadata) {
  TempFile f("rt.safetensors");
  const Tensor a = ramp({2, 3}, -1.0f, DType::F32);
  const Tensor b = ramp({4}, 3.0f, DType::BF16);
  const Tensor c = ramp({3, 1, 2}, 0.5f, DType::F16);
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"config", "{\"dim\": 64}"}};
  write_safetensors(f.path, {{"z.f32", a}, {"a.bf16", b}, {"m.f16", c}}, meta);

  SafetensorsFile file = SafetensorsFile::open(f.path);
  EXPECT_EQ(file.path(), f.path);
  EXPECT_EQ(file.metadata(), meta);
  // Data is laid out in name order, and names() follows data order.
  EXPECT_EQ(file.names(), (std::vector<std::string>{"a.bf16", "m.f16", "z.f32"}));
  const std::pair<const char*, const Tensor*> expected[] = {{"z.f32", &a}, {"a.bf16", &b}, {"m.f16", &c}};
  for (const auto& [name, want] : expected) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(file.has(name));
    Tensor got = file.get(name);
    EXPECT_EQ(got.dtype(), want->dtype());
    EXPECT_EQ(got.shape(), want->shape());
    EXPECT_EQ(bytes_of(got), bytes_of(*want));
    Tensor f32 = file.get_f32(name);
    EXPECT_EQ(f32.dtype(), DType::F32);
    EXPECT_EQ(f32.to_floats(), want->to_floats());
  }
  EXPECT_FALSE(file.has("nope"));
  std::string msg = error_of([&] { file.get("nope"); });
  EXPECT_NE(msg.find(f.path), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing tensor 'nope'"), std::string::npos) << msg;
}

TEST(SafetensorsRoundTrip, HeaderIsPaddedToEightBytesAndDataAligned) {
  TempFile f("pad.safetensors");
  write_safetensors(f.path, {{"w", ramp({3}, 1.0f, DType::F32)}}, {{"k", "v"}});
  std::vector<uint8_t> raw = read_all(f.path);
  ASSERT_GE(raw.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | raw[i];
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(raw.size(), 8 + n + 12);
  EXPECT_FALSE(fs::exists(f.path + ".tmp"));
  // Zero-copy: the view points into the mapping, which outlives the file object.
  Tensor view;
  {
    SafetensorsFile file = SafetensorsFile::open(f.path);
    view = file.get("w");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(view.raw()) % 4, 0u);
  }
  EXPECT_EQ(view.to_floats(), (std::vector<float>{1.0f, 1.25f, 1.5f}));
}

TEST(SafetensorsRoundTrip, EmptyAndScalarTensors) {
  TempFile f("edge.safetensors");
  write_safetensors(f.path, {{"empty", Tensor::zeros({0, 3})},
                             {"empty16", Tensor::zeros({2, 0}, DType::F16)},
                             {"scalar", Tensor::from_floats({7.0f}, {})}});
  SafetensorsFile file = SafetensorsFile::open(f.path);
  EXPECT_TRUE(file.metadata().empty());
  EXPECT_EQ(file.get("empty").shape(), (Shape{0, 3}));
  EXPECT_EQ(file.get("empty").numel(), 0);
  // Found by libFuzzer: converting an empty F16 tensor must not touch a null buffer.
  EXPECT_EQ(file.get_f32("empty16").shape(), (Shape{2, 0}));
  EXPECT_EQ(file.get_f32("empty16").dtype(), DType::F32);
  EXPECT_EQ(file.get("scalar").shape(), Shape{});
  EXPECT_EQ(file.get("scalar").to_floats(), std::vector<float>{7.0f});
}

TEST(SafetensorsRoundTrip, FromBytesMatchesOpen) {
  TempFile f("mem.safetensors");
  write_safetensors(f.path, {{"x", ramp({5}, 2.0f, DType::BF16)}}, {{"a", "b"}});
  std::vector<uint8_t> raw = read_all(f.path);
  SafetensorsFile mem = SafetensorsFile::from_bytes("in-memory", raw.data(), raw.size());
  raw.assign(raw.size(), 0xff);  // the image was copied
  SafetensorsFile disk = SafetensorsFile::open(f.path);
  EXPECT_EQ(mem.path(), "in-memory");
  EXPECT_EQ(mem.metadata(), disk.metadata());
  EXPECT_EQ(mem.get_f32("x").to_floats(), disk.get_f32("x").to_floats());
}

TEST(SafetensorsRoundTrip, UnalignedDataIsCopiedIntoAlignedTensor) {
  // Header of odd length: the F32 data starts at an odd address.
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  if (header.size() % 2 == 0) header += ' ';
  std::vector<uint8_t> bytes = image(header, 0);
  const float values[2] = {1.5f, -2.0f};
  const auto* p = reinterpret_cast<const uint8_t*>(values);
  bytes.insert(bytes.end(), p, p + 8);
  SafetensorsFile file = SafetensorsFile::from_bytes("odd", bytes.data(), bytes.size());
  Tensor t = file.get("w");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 4, 0u);
  EXPECT_EQ(t.to_floats(), (std::vector<float>{1.5f, -2.0f}));
}

TEST(SafetensorsRoundTrip, HolesAndTrailingBytesAreTolerated) {
  std::string header = R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
                       R"("b":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})";
  std::vector<uint8_t> bytes = image(header, 20);
  SafetensorsFile file = SafetensorsFile::from_bytes("holes", bytes.data(), bytes.size());
  EXPECT_EQ(file.names(), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(file.info("a").begin, 8u);
  EXPECT_EQ(file.info("a").end, 12u);
}

TEST(SafetensorsWrite, ErrorsNameThePath) {
  const std::string path = temp_path("no_such_dir") + "/out.safetensors";
  std::string msg = error_of([&] { write_safetensors(path, {{"w", Tensor::zeros({2})}}); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find(std::strerror(ENOENT)), std::string::npos) << msg;

  TempFile f("dup.safetensors");
  msg = error_of([&] { write_safetensors(f.path, {{"w", Tensor::zeros({2})}, {"w", Tensor::zeros({2})}}); });
  EXPECT_NE(msg.find(f.path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w' given twice"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(f.path));
  EXPECT_FALSE(fs::exists(f.path + ".tmp"));
}

// ---------------------------------------------------------------------------
// The real checkpoint shipped with the tests

TEST(SafetensorsRealFile, Chunk3Weights) {
  const std::string path = std::string(WL_TEST_DATA_DIR) + "/chunk3.weights.safetensors";
  SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(file.names().size(), 69u);
  EXPECT_TRUE(file.metadata().count("format"));
  EXPECT_TRUE(file.metadata().count("config"));

  const TensorInfo& pe = file.info("patch_embedding.weight");
  EXPECT_EQ(pe.dtype, DType::F32);
  EXPECT_EQ(pe.shape, (Shape{64, 4, 1, 2, 2}));

  // Every tensor's bytes must equal the bytes at its offsets, read independently.
  std::vector<uint8_t> raw = read_all(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | raw[i];
  uint64_t previous_end = 0;
  for (const std::string& name : file.names()) {
    SCOPED_TRACE(name);
    const TensorInfo& info = file.info(name);
    EXPECT_GE(info.begin, previous_end);  // data order, no overlap
    previous_end = info.end;
    Tensor t = file.get(name);
    ASSERT_EQ(t.nbytes(), info.end - info.begin);
    std::vector<uint8_t> want(raw.begin() + 8 + n + info.begin, raw.begin() + 8 + n + info.end);
    EXPECT_EQ(bytes_of(t), want);
  }
  EXPECT_LE(8 + n + previous_end, raw.size());
}

// ---------------------------------------------------------------------------
// WeightMap

TEST(SafetensorsWeightMap, PrefersGeneratorEmaAndDropsModelPrefix) {
  TempFile f("wrapped.safetensors");
  write_safetensors(f.path, {{"model.generator_ema.blocks.0.w", ramp({2}, 1.0f, DType::F32)},
                             {"model.generator.blocks.0.w", ramp({2}, 9.0f, DType::F32)},
                             {"generator_ema.model.head.b", ramp({3}, 5.0f, DType::F32)},
                             {"generator.model.head.b", ramp({3}, -5.0f, DType::F32)},
                             {"critic.blocks.0.w", ramp({2}, 0.0f, DType::F32)},
                             {"blocks.0.w", ramp({2}, 100.0f, DType::F32)}});
  WeightMap weights = WeightMap::open(f.path);
  EXPECT_EQ(weights.names(), (std::vector<std::string>{"blocks.0.w", "head.b"}));
  EXPECT_EQ(weights.get("blocks.0.w").to_floats(), (std::vector<float>{1.0f, 1.25f}));
  EXPECT_EQ(weights.get("head.b").to_floats(), (std::vector<float>{5.0f, 5.25f, 5.5f}));
  EXPECT_FALSE(weights.has("critic.blocks.0.w"));
  EXPECT_EQ(weights.info("head.b").name, "generator_ema.model.head.b");
}

// U8 holds fixtures' images: it round-trips through the file, converts
// with rounding and clamping, and is refused as a weight.
TEST(SafetensorsWeightMap, U8ImagesReadButAreNotWeights) {
  TempFile f("u8.safetensors");
  const Tensor px = Tensor::from_floats({-3.0f, 0.4f, 0.6f, 254.5f, 300.0f}, {5}).to(DType::U8);
  EXPECT_EQ(px.to_floats(), (std::vector<float>{0.0f, 0.0f, 1.0f, 254.0f, 255.0f}));  // half to even
  write_safetensors(f.path, {{"image.u8", px}, {"w", Tensor::zeros({2})}});
  const SafetensorsFile file = SafetensorsFile::open(f.path);
  EXPECT_EQ(file.info("image.u8").dtype, DType::U8);
  EXPECT_EQ(file.get("image.u8").to_floats(), px.to_floats());
  WeightMap weights = WeightMap::open(f.path);
  EXPECT_EQ(weights.get("w").numel(), 2);
  const std::string msg = error_of([&] { weights.get("image.u8"); });
  EXPECT_NE(msg.find("tensor 'image.u8' has dtype U8"), std::string::npos) << msg;
  EXPECT_NE(msg.find(f.path), std::string::npos) << msg;
}

TEST(SafetensorsWeightMap, FallsBackToGenerator) {
  TempFile f("gen.safetensors");
  write_safetensors(f.path, {{"generator.model.x", ramp({2}, 1.0f, DType::BF16)},
                             {"fake_score.model.x", ramp({2}, 2.0f, DType::BF16)}});
  WeightMap weights = WeightMap::open(f.path);
  EXPECT_EQ(weights.names(), std::vector<std::string>{"x"});
  EXPECT_EQ(weights.get("x").dtype(), DType::BF16);
  EXPECT_EQ(weights.get("x").to_floats(), (std::vector<float>{1.0f, 1.25f}));
}

TEST(SafetensorsWeightMap, UnprefixedNamesStayAndModelIsDropped) {
  TempFile f("plain.safetensors");
  write_safetensors(f.path, {{"model.a.weight", Tensor::zeros({1})}, {"b.bias", Tensor::zeros({2})}});
  WeightMap weights(SafetensorsFile::open(f.path));
  EXPECT_EQ(weights.names(), (std::vector<std::string>{"a.weight", "b.bias"}));
  EXPECT_EQ(weights.path(), f.path);
}

TEST(SafetensorsWeightMap, AmbiguousStrippedNamesAreRejected) {
  TempFile f("ambiguous.safetensors");
  write_safetensors(f.path, {{"model.a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}});
  std::string msg = error_of([&] { WeightMap::open(f.path); });
  EXPECT_NE(msg.find(f.path), std::string::npos) << msg;
  EXPECT_NE(msg.find("both map to 'a'"), std::string::npos) << msg;
}

TEST(SafetensorsWeightMap, ShapeAndMissingErrors) {
  TempFile f("shape.safetensors");
  write_safetensors(f.path, {{"generator_ema.w", Tensor::zeros({2, 3})}});
  WeightMap weights = WeightMap::open(f.path);
  EXPECT_EQ(weights.get("w", {2, 3}).shape(), (Shape{2, 3}));
  EXPECT_EQ(error_of([&] { weights.get("w", {3, 2}); }),
            f.path + ": tensor 'w' has shape [2, 3], expected [3, 2]");
  EXPECT_EQ(error_of([&] { weights.get("v"); }), f.path + ": missing tensor 'v'");
  EXPECT_EQ(error_of([&] { weights.get("v", {1}); }), f.path + ": missing tensor 'v'");
}

// ---------------------------------------------------------------------------
// Malformed files: one test per problem

const std::string kGoodEntry = R"("w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";

TEST(SafetensorsBadFile, ShorterThanLengthField) {
  expect_file_rejected({1, 0, 0}, {"3 bytes", "shorter than the 8-byte header length", "truncated"});
  expect_file_rejected({}, {"0 bytes", "truncated"});
  expect_rejected({1, 2, 3, 4, 5}, {"5 bytes", "truncated"});
}

TEST(SafetensorsBadFile, HeaderCutShort) {
  std::vector<uint8_t> bytes = image("{" + kGoodEntry + "}", 24);
  bytes.resize(20);  // length field intact, header cut
  expect_file_rejected(bytes, {"header length " + std::to_string(kGoodEntry.size() + 2), "12 bytes",
                               "20 bytes", "truncated"});
}

TEST(SafetensorsBadFile, DataCutShort) {
  std::vector<uint8_t> bytes = image("{" + kGoodEntry + "}", 24);
  bytes.resize(bytes.size() - 5);
  expect_file_rejected(bytes, {"tensor 'w'", "data_offsets [0, 24]", "past the end of the data section",
                               "19 bytes"});
}

TEST(SafetensorsBadFile, HeaderLengthZero) { expect_rejected(image("", 16, 0), {"header length is 0"}); }

TEST(SafetensorsBadFile, HugeHeaderLength) {
  expect_rejected(image("{}", 0, int64_t{1} << 40), {"header length 1099511627776", "larger than the 2 bytes",
                                                     "file is 10 bytes"});
  // Beyond the 100 MB cap even when the file is that large (it need not be read to tell).
  std::vector<uint8_t> big = image("{}", 0, 100'000'001);
  big.resize(8 + 100'000'001, ' ');
  expect_rejected(big, {"header length 100000001", "exceeds", "limit"});
}

TEST(SafetensorsBadFile, HeaderNotJson) {
  expect_rejected(image("{\"w\": {\"dtype\": F32}}", 0), {"header is not valid JSON", "syntax error"});
}

TEST(SafetensorsBadFile, HeaderNotObject) {
  expect_rejected(image("[1, 2]", 0), {"header is a JSON array, expected an object"});
}

TEST(SafetensorsBadFile, EntryNotObject) {
  expect_rejected(image(R"({"w": [1]})", 0), {"tensor 'w'", "entry is a JSON array"});
}

TEST(SafetensorsBadFile, MissingField) {
  expect_rejected(image(R"({"w":{"dtype":"F32","shape":[1]}})", 4), {"tensor 'w'", "missing 'data_offsets'"});
}

TEST(SafetensorsBadFile, OffsetsPastEnd) {
  expect_rejected(image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16),
                  {"tensor 'w'", "data_offsets [8, 24]", "past the end of the data section (16 bytes"});
}

TEST(SafetensorsBadFile, BeginAfterEnd) {
  expect_rejected(image(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 16),
                  {"tensor 'w'", "data_offsets [8, 4] begin after they end"});
}

TEST(SafetensorsBadFile, OffsetsNotTwoIntegers) {
  expect_rejected(image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 8),
                  {"tensor 'w'", "data_offsets must be two non-negative integers"});
  expect_rejected(image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 8),
                  {"tensor 'w'", "data_offsets must be two non-negative integers", "[-4,0]"});
}

TEST(SafetensorsBadFile, OverlappingRanges) {
  expect_rejected(image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                        R"("b":{"dtype":"F16","shape":[4],"data_offsets":[12,20]}})",
                        20),
                  {"tensor 'b'", "data_offsets [12, 20] overlap tensor 'a' [0, 16]"});
}

TEST(SafetensorsBadFile, UnsupportedDtype) {
  expect_rejected(image(R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", 16),
                  {"tensor 'ids'", "unsupported dtype 'I64'", "F32", "BF16", "F16"});
  expect_rejected(image(R"({"ids":{"dtype":32,"shape":[2],"data_offsets":[0,16]}})", 16),
                  {"tensor 'ids'", "dtype must be a string"});
}

TEST(SafetensorsBadFile, ShapeBytesMismatch) {
  expect_rejected(image(R"({"blocks.0.ffn.0.weight":{"dtype":"F32","shape":[5,6],"data_offsets":[0,100]}})", 100),
                  {"tensor 'blocks.0.ffn.0.weight': data_offsets [0, 100] hold 100 bytes but dtype F32 "
                   "shape [5, 6] needs 120"});
}

TEST(SafetensorsBadFile, ElementCountOverflow) {
  expect_rejected(
      image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
      {"tensor 'w'", "more elements than fit in 64 bits"});
  // 2^62 elements fit, but 2^62 * 4 bytes does not.
  expect_rejected(image(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
                  {"tensor 'w'", "needs more than 2^64"});
}

TEST(SafetensorsBadFile, NonUtf8Name) {
  std::string header = "{\"bad\xff" "name\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  expect_rejected(image(header, 4), {"not valid UTF-8", "\\xff", "bad\\xffname"});
  // Overlong encoding of '/' and a UTF-16 surrogate encoded as UTF-8 are not UTF-8 either.
  expect_rejected(image("{\"a\xc0\xaf\":1}", 0), {"not valid UTF-8", "\\xc0"});
  expect_rejected(image("{\"a\xed\xa0\x80\":1}", 0), {"not valid UTF-8", "\\xed"});
  // Valid multi-byte names are fine.
  std::string ok = "{\"w\xc3\xa9ight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  std::vector<uint8_t> bytes = image(ok, 4);
  EXPECT_TRUE(SafetensorsFile::from_bytes("ok", bytes.data(), bytes.size()).has("w\xc3\xa9ight"));
}

TEST(SafetensorsBadFile, NegativeShape) {
  expect_rejected(image(R"({"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,0]}})", 0),
                  {"tensor 'w'", "shape [2,-3] has a negative dimension (-3)"});
}

TEST(SafetensorsBadFile, NonIntegerShape) {
  expect_rejected(image(R"({"w":{"dtype":"F32","shape":[2,1.5],"data_offsets":[0,12]}})", 12),
                  {"tensor 'w'", "not an integer (1.5)"});
  expect_rejected(image(R"({"w":{"dtype":"F32","shape":"2x3","data_offsets":[0,24]}})", 24),
                  {"tensor 'w'", "shape must be an array of non-negative integers"});
}

TEST(SafetensorsBadFile, MetadataNonString) {
  expect_rejected(image(R"({"__metadata__":{"format":"pt","step":1000},)" + kGoodEntry + "}", 24),
                  {"__metadata__ value for 'step'", "number", "expected a string"});
  expect_rejected(image(R"({"__metadata__":["pt"]})", 0), {"__metadata__ is a JSON array"});
}

TEST(SafetensorsBadFile, DuplicateKey) {
  expect_rejected(image("{" + kGoodEntry + "," + kGoodEntry + "}", 24), {"repeats the key 'w'"});
}

TEST(SafetensorsBadFile, MissingFile) {
  const std::string path = temp_path("does_not_exist.safetensors");
  std::string msg = error_of([&] { SafetensorsFile::open(path); });
  EXPECT_EQ(msg, path + ": cannot open: " + std::strerror(ENOENT));
  msg = error_of([&] { WeightMap::open(path); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

TEST(SafetensorsBadFile, DirectoryIsNotAFile) {
  const std::string dir = temp_path("dir");
  fs::create_directories(dir);
  std::string msg = error_of([&] { SafetensorsFile::open(dir); });
  fs::remove(dir);
  EXPECT_EQ(msg.rfind(dir + ": ", 0), 0u) << msg;
}

}  // namespace
}  // namespace wl
