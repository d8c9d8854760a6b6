// Bad torch.save files: each gets a wl::Error naming the file and the
// problem, never a crash, a hang or code run. The pickles are written
// opcode by opcode (tests/support/torch_save_writer.h).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "runtime/core/error.h"
#include "runtime/core/pt_file.h"
#include "runtime/core/torch_unpickler.h"
#include "runtime/core/weight_map.h"
#include "tests/support/golden.h"
#include "tests/support/torch_save_writer.h"

namespace wl {
namespace {

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

// Loads a .pt made of `pickle` and one 64-element float storage "0" through WeightMap.
std::string load_error(const PickleOut& p, const Bytes& storage = Bytes(256, 0)) {
  static const std::string dir = test::temp_dir();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string path = dir + "/" + info->name() + ".pt";
  test::write_file(path, test::make_pt("bad", p.bytes, {{"0", storage}}));
  std::string msg = error_of([&] { WeightMap::open(path); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << "error does not start with the file: " << msg;
  return msg;
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

void reduce_global(PickleOut& p, const std::string& module, const std::string& name) {
  p.empty_dict();
  p.str("w");
  p.global(module, name);
  p.str("echo pwned");
  p.op(0x85);  // TUPLE1
  p.op('R');
  p.op('s');
  p.stop();
}

TEST(CheckpointBadFile, ForbiddenGlobalsAreNamedAndNeverRun) {
  for (const auto& [module, name] : std::vector<std::pair<std::string, std::string>>{
           {"os", "system"}, {"builtins", "eval"}, {"posix", "system"}, {"__main__", "Exploit"},
           {"torch", "load"}, {"torch._utils", "_rebuild_qtensor"}, {"collections", "defaultdict"}}) {
    PickleOut p;
    reduce_global(p, module, name);
    const std::string msg = load_error(p);
    EXPECT_CONTAINS(msg, "forbidden global '" + module + "." + name + "'");
  }
  // The same through STACK_GLOBAL (protocol 4's spelling).
  PickleOut p;
  p.str("os");
  p.str("system");
  p.op(0x93);
  p.stop();
  EXPECT_CONTAINS(load_error(p), "forbidden global 'os.system'");
}

TEST(CheckpointBadFile, AllowedGlobalsCannotBeMisused) {
  PickleOut p;  // a storage class called directly
  p.global("torch", "FloatStorage");
  p.op(')');
  p.op('R');
  p.stop();
  EXPECT_CONTAINS(load_error(p), "cannot be called");
  PickleOut q;  // _rebuild_from_type_v2 with another function
  q.global("torch._tensor", "_rebuild_from_type_v2");
  q.mark();
  q.global("collections", "OrderedDict");
  q.global("torch", "Tensor");
  q.op(')');
  q.empty_dict();
  q.op('t');
  q.op('R');
  q.stop();
  EXPECT_CONTAINS(load_error(q), "func must be torch._utils._rebuild_tensor_v2");
}

void one_tensor(PickleOut& p, int64_t numel, int64_t offset, const Shape& shape, const std::vector<int64_t>& strides,
                const std::string& key = "0") {
  p.empty_dict();
  p.str("w");
  p.tensor("FloatStorage", key, numel, offset, shape, strides);
  p.op('s');
  p.stop();
}

TEST(CheckpointBadFile, StorageShorterThanItsTensor) {
  PickleOut p;
  one_tensor(p, 64, 10, {8, 8}, {8, 1});  // reaches element 73 of 64
  const std::string msg = load_error(p);
  EXPECT_CONTAINS(msg, "storage shorter than its tensor");
  EXPECT_CONTAINS(msg, "reaches element 73");
  PickleOut s;  // strides that overflow
  one_tensor(s, 64, 0, {3, 3}, {INT64_MAX / 2, 1});
  EXPECT_CONTAINS(load_error(s), "_rebuild_tensor_v2");
  PickleOut e;  // an entry shorter than the declared element count
  one_tensor(e, 100, 0, {10}, {1});
  EXPECT_CONTAINS(load_error(e), "declares 100 F32 elements but its entry holds 256 bytes");
  PickleOut m;  // a storage with no entry
  one_tensor(m, 4, 0, {4}, {1}, "9");
  EXPECT_CONTAINS(load_error(m), "storage '9' has no entry 'bad/data/9'");
  PickleOut n;
  one_tensor(n, 64, 0, {4, -1}, {1, 1});
  EXPECT_CONTAINS(load_error(n), "negative size or stride");
}

TEST(CheckpointBadFile, UnknownOpcodesAndBrokenStreams) {
  PickleOut u;
  u.op(0xff);
  EXPECT_CONTAINS(load_error(u), "unsupported pickle opcode 0xff");
  PickleOut i;  // INST: protocol 0's way to build any object
  i.raw("ios\nsystem\n");
  EXPECT_CONTAINS(load_error(i), "unsupported pickle opcode 0x69 ('i')");
  PickleOut under;
  under.op('R');
  EXPECT_CONTAINS(load_error(under), "stack underflow");
  PickleOut nomark;
  nomark.op('t');
  EXPECT_CONTAINS(load_error(nomark), "no MARK");
  PickleOut memo;
  memo.get(5);
  EXPECT_CONTAINS(load_error(memo), "memo index 5 read before it was written");
  PickleOut cut;
  cut.op('X');
  cut.u32(1000);
  cut.raw("abc");
  EXPECT_CONTAINS(load_error(cut), "truncated");
  PickleOut nostop;
  nostop.empty_dict();
  EXPECT_CONTAINS(load_error(nostop), "truncated");
  PickleOut wide;
  wide.op(0x8a);
  wide.op(9);
  wide.raw("123456789");
  EXPECT_CONTAINS(load_error(wide), "does not fit in 64 bits");
  PickleOut notdict;
  notdict.op(']');
  notdict.stop();
  EXPECT_CONTAINS(load_error(notdict), "not a state dict");
}

TEST(CheckpointBadFile, RecursiveMemoIsRefused) {
  PickleOut self;  // l = []; l.append(l)
  self.op(']');
  self.put(0);
  self.get(0);
  self.op('a');
  self.stop();
  EXPECT_CONTAINS(load_error(self), "recursive memo");
  PickleOut cycle2;
  cycle2.empty_dict();  // a = {}; b = [a]; a['k'] = b
  cycle2.put(0);
  cycle2.op(']');
  cycle2.get(0);
  cycle2.op('a');  // b.append(a): a is now sealed
  cycle2.put(1);
  cycle2.get(0);
  cycle2.str("k");
  cycle2.get(1);
  cycle2.op('s');  // a['k'] = b: a was stored in b, so it is sealed
  cycle2.stop();
  EXPECT_CONTAINS(load_error(cycle2), "recursive structure");
}

TEST(CheckpointBadFile, PickleBombs) {
  PickleOut views;  // a 2^21-element tensor of stride 0 on a 1-element storage
  one_tensor(views, 1, 0, {1 << 21}, {0});
  EXPECT_CONTAINS(load_error(views), "pickle bomb");
  PickleOut deeper;  // 300 nested lists
  for (int i = 0; i < 300; ++i) deeper.op(']');
  for (int i = 0; i < 299; ++i) deeper.op('a');
  deeper.stop();
  EXPECT_CONTAINS(load_error(deeper), "nested deeper than 200");
  // Object and memo counts have limits too.
  PickleOut many;
  many.op(']');
  many.mark();
  for (int i = 0; i < 200; ++i) many.op('N');
  many.op('e');
  many.stop();
  UnpickleLimits small;
  small.max_objects = 100;
  auto none = [](const std::string&, StorageType, int64_t) -> StorageBytes { throw Error("no storage"); };
  EXPECT_CONTAINS(error_of([&] { unpickle("many.pkl", many.bytes.data(), many.bytes.size(), none, small); }),
                  "many.pkl: more than 100 objects");
  EXPECT_EQ(error_of([&] { unpickle("many.pkl", many.bytes.data(), many.bytes.size(), none); }), "no error");
}

TEST(CheckpointBadFile, NotACheckpointSaysWhatItIs) {
  static const std::string dir = test::temp_dir();
  const std::string legacy = dir + "/legacy.pt";
  test::write_file(legacy, Bytes{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19});
  EXPECT_CONTAINS(error_of([&] { WeightMap::open(legacy); }), "a legacy torch.save file");
  const std::string nopkl = dir + "/nopkl.pt";
  test::write_file(nopkl, test::make_zip({{"x/readme.txt", Bytes{'h', 'i'}}}));
  EXPECT_CONTAINS(error_of([&] { WeightMap::open(nopkl); }), "without a '<name>/data.pkl' entry");
  EXPECT_CONTAINS(error_of([&] { WeightMap::open(dir + "/missing.pt"); }), "missing.pt");
}

}  // namespace
}  // namespace wl
