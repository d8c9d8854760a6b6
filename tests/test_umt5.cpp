// umT5 text encoder (runtime/model/umt5*, issue 21): the tokenizer against the
// fixture's SentencePiece ids, the buckets, the encoder against the golden
// fixture (f32 and bf16 products, every block's output) and against the
// float64 reference of tests/support/reference_umt5 on other widths, head
// counts and a prompt of 512 tokens; bad weights and inputs get named errors.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/model/case_file.h"
#include "runtime/model/memory_plan.h"
#include "runtime/model/prompt_cache.h"
#include "runtime/model/umt5.h"
#include "runtime/model/umt5_tokenizer.h"
#include "tests/support/golden.h"
#include "tests/support/reference_umt5.h"

namespace wl {
namespace {

using ops::MatmulPrecision;

const std::string kWeights = test::data_path("umt5_tiny.weights.safetensors");
const std::string kCase = test::data_path("umt5_tiny.case.safetensors");
const std::string kSpm = test::data_path("umt5_tiny.spm.model");

std::vector<std::string> json_list(const SafetensorsFile& f, const std::string& key) {
  return nlohmann::json::parse(f.metadata().at(key)).get<std::vector<std::string>>();
}

std::vector<int32_t> ints(const std::vector<float>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

// Row p of a [N, ...] float tensor as floats.
std::vector<float> row(const Tensor& t, int64_t p) {
  const std::vector<float> all = t.to_floats();
  const size_t n = all.size() / static_cast<size_t>(t.dim(0));
  return std::vector<float>(all.begin() + static_cast<std::ptrdiff_t>(p * n),
                            all.begin() + static_cast<std::ptrdiff_t>((p + 1) * n));
}

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  return testref::rel_l2(a, std::vector<double>(b.begin(), b.end()));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- tokenizer ---------------------------------------------------------------------------

TEST(Umt5Tokenizer, CleaningMatchesFixture) {
  const SafetensorsFile c = open_float_tensors(kCase);
  const auto prompts = json_list(c, "prompts"), cleaned = json_list(c, "cleaned");
  ASSERT_EQ(prompts.size(), 3u);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(clean_prompt(prompts[i]), cleaned[i]) << i;
}

TEST(Umt5Tokenizer, CleaningRules) {
  EXPECT_EQ(clean_prompt("  a \t\n b  "), "a b");
  EXPECT_EQ(clean_prompt("fish &amp; chips"), "fish & chips");
  EXPECT_EQ(clean_prompt("&amp;amp;"), "&");  // unescaped twice
  EXPECT_EQ(clean_prompt("&amp;amp;amp;"), "&amp;");
  EXPECT_EQ(clean_prompt("&lt;b&gt; &quot;q&quot; &#39;s&#39; &apos;t&apos;"), "<b> \"q\" 's' 't'");
  EXPECT_EQ(clean_prompt("a&nbsp;&nbsp;b"), "a b");   // U+00A0 is whitespace
  EXPECT_EQ(clean_prompt("&#65;&#x42;&#X43;&#100"), "ABCd");
  EXPECT_EQ(clean_prompt("&#0;x"), "\xEF\xBF\xBDx");  // U+FFFD
  EXPECT_EQ(clean_prompt("&ampx &unknown; & &#; &#xZ"), "&x &unknown; & &#; &#xZ");
  EXPECT_EQ(clean_prompt("a\x01\x02" "b\x7f" "c\x1b[31m"), "abc[31m");  // C0 controls and DEL dropped
  EXPECT_EQ(clean_prompt("\xE3\x80\x80x\xE2\x80\x83y"), "x y");           // U+3000, U+2003
  EXPECT_EQ(clean_prompt("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(clean_prompt("bad\xFFutf8"), "bad\xEF\xBF\xBDutf8");
  EXPECT_EQ(clean_prompt(""), "");
  EXPECT_EQ(clean_prompt(" \n\t "), "");
}

TEST(Umt5Tokenizer, PiecesAndPaddedIdsMatchFixture) {
  const SafetensorsFile c = open_float_tensors(kCase);
  const Umt5Tokenizer tok(kSpm);
  EXPECT_EQ(tok.eos_id(), 1);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 2);
  const auto prompts = json_list(c, "prompts"), cleaned = json_list(c, "cleaned");
  const Tensor ids = c.get_f32("ids"), mask = c.get_f32("mask"), lens = c.get_f32("seq_lens");
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(tok.pieces(cleaned[i]), ints(c.get_f32("spm_ids." + std::to_string(i)).to_floats())) << i;
    const Umt5Tokens t = tok.tokenize(prompts[i], 512);
    EXPECT_EQ(t.cleaned, cleaned[i]);
    EXPECT_EQ(t.ids, ints(row(ids, static_cast<int64_t>(i)))) << i;
    EXPECT_EQ(t.mask, row(mask, static_cast<int64_t>(i))) << i;
    EXPECT_EQ(t.seq_len, static_cast<int64_t>(lens.to_floats()[i]));
    EXPECT_FALSE(t.truncated);
  }
}

TEST(Umt5Tokenizer, RunsOfUnknownsBecomeOneId) {
  const Umt5Tokenizer tok(kSpm);
  // The spec's example: x@@y -> ▁ x <unk> y.
  const std::vector<int32_t> p = tok.pieces("x@@y");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[2], 2);
  EXPECT_NE(p[1], 2);
  EXPECT_NE(p[3], 2);
  for (const char* s : {"x@@@#y", "a ~~~ b", "\xE4\xB8\xAD\xE6\x96\x87 and \xC3\xA9\xC3\xA9", "@@ @@"}) {
    const std::vector<int32_t> q = tok.pieces(s);
    for (size_t i = 1; i < q.size(); ++i) EXPECT_FALSE(q[i] == 2 && q[i - 1] == 2) << s;
    EXPECT_NE(std::find(q.begin(), q.end(), 2), q.end()) << s;
  }
}

TEST(Umt5Tokenizer, LongPromptIsTruncatedTo511PiecesThenEos) {
  const Umt5Tokenizer tok(kSpm);
  std::string prompt;
  for (int i = 0; i < 400; ++i) prompt += "A red fox runs through the snowy forest. ";
  const std::vector<int32_t> all = tok.pieces(clean_prompt(prompt));
  ASSERT_GT(all.size(), 600u);
  const Umt5Tokens t = tok.tokenize(prompt, 512);
  EXPECT_TRUE(t.truncated);
  EXPECT_EQ(t.seq_len, 512);
  ASSERT_EQ(t.ids.size(), 512u);
  EXPECT_EQ(std::vector<int32_t>(t.ids.begin(), t.ids.begin() + 511), std::vector<int32_t>(all.begin(), all.begin() + 511));
  EXPECT_EQ(t.ids[511], 1);
  EXPECT_EQ(t.mask, std::vector<float>(512, 1.0f));
  // Exactly 511 pieces fit untruncated.
  const Umt5Tokens u = tok.tokenize(prompt, static_cast<int64_t>(all.size()) + 1);
  EXPECT_FALSE(u.truncated);
  EXPECT_EQ(u.seq_len, static_cast<int64_t>(all.size()) + 1);
}

TEST(Umt5Tokenizer, MissingOrBadModelIsANamedError) {
  const std::string missing = test::temp_dir() + "/spiece.model";
  EXPECT_NE(error_of([&] { Umt5Tokenizer t(missing); }).find(missing), std::string::npos);
  EXPECT_NE(error_of([&] { Umt5Tokenizer t(kWeights); }).find(kWeights + ": not a SentencePiece model"),
            std::string::npos);
}

// ---- buckets -------------------------------------------------------------------------------

TEST(Umt5, BucketsMatchFixtureForEveryOffset) {
  const SafetensorsFile c = open_float_tensors(kCase);
  const std::vector<float> r = c.get_f32("rel_pos").to_floats(), b = c.get_f32("buckets").to_floats();
  ASSERT_EQ(r.size(), 1023u);
  for (size_t i = 0; i < r.size(); ++i) {
    ASSERT_EQ(static_cast<int64_t>(r[i]), static_cast<int64_t>(i) - 511);
    EXPECT_EQ(umt5_bucket(static_cast<int64_t>(r[i]), 32, 128), static_cast<int64_t>(b[i])) << "r " << r[i];
  }
  // The spec's table of |r| ranges.
  const std::pair<int64_t, int64_t> table[] = {{7, 7}, {8, 8}, {11, 8}, {12, 9}, {15, 9}, {16, 10}, {22, 10},
                                               {23, 11}, {31, 11}, {32, 12}, {45, 12}, {46, 13}, {63, 13},
                                               {64, 14}, {90, 14}, {91, 15}, {5000, 15}};
  for (auto [n, want] : table) {
    EXPECT_EQ(umt5_bucket(-n, 32, 128), want) << n;
    EXPECT_EQ(umt5_bucket(n, 32, 128), want + 16) << n;
  }
  EXPECT_EQ(umt5_bucket(0, 32, 128), 0);
}

TEST(Umt5, BucketsMatchReferenceForOtherSettings) {
  for (auto [nb, md] : {std::pair<int64_t, int64_t>{32, 128}, {16, 64}, {64, 256}, {8, 20}, {32, 300}})
    for (int64_t r = -3000; r <= 3000; ++r)
      ASSERT_EQ(umt5_bucket(r, nb, md), testref::umt5_bucket_ref(r, nb, md)) << nb << " " << md << " r " << r;
}

// ---- the encoder against the golden fixture --------------------------------------------------

struct Fixture {
  SafetensorsFile c = open_float_tensors(kCase);
  WeightMap w = WeightMap::open(kWeights);
  std::vector<int32_t> ids(int64_t p) const { return ints(row(c.get_f32("ids"), p)); }
  std::vector<float> mask(int64_t p) const { return row(c.get_f32("mask"), p); }
};

TEST(Umt5, ConfigFromWeights) {
  const Fixture f;
  const Umt5Config cfg = umt5_config(f.w);
  EXPECT_EQ(cfg.vocab, 512);
  EXPECT_EQ(cfg.dim, 64);
  EXPECT_EQ(cfg.dim_attn, 64);
  EXPECT_EQ(cfg.dim_ffn, 160);
  EXPECT_EQ(cfg.heads, 4);
  EXPECT_EQ(cfg.layers, 3);
  EXPECT_EQ(cfg.buckets, 32);
  EXPECT_EQ(cfg.max_distance, 128);
  EXPECT_EQ(cfg.text_len, 512);
  EXPECT_FLOAT_EQ(cfg.eps, 1e-6f);
}

void check_fixture(MatmulPrecision p, double tol) {
  const Fixture f;
  const Umt5Encoder enc(f.w, p);
  const Tensor context = f.c.get_f32("context"), encoder_out = f.c.get_f32("encoder_out");
  for (int64_t i = 0; i < 3; ++i) {
    const Umt5Encoder::Output full = enc.encode(f.ids(i), f.mask(i), {.full = true, .taps = i == 0});
    const double e_ctx = rel(full.context.to_floats(), row(context, i));
    const double e_out = rel(full.encoder_out.to_floats(), row(encoder_out, i));
    const double e_fast = rel(enc.encode(f.ids(i), f.mask(i)).to_floats(), row(context, i));
    std::printf("prompt %lld %s: context %.3g encoder_out %.3g fast path %.3g\n", static_cast<long long>(i),
                ops::precision_name(p), e_ctx, e_out, e_fast);
    EXPECT_LE(e_ctx, tol);
    EXPECT_LE(e_out, tol);
    EXPECT_LE(e_fast, tol);
    if (p == MatmulPrecision::BF16) {  // above f32's level (4e-7 here), or the bf16 path did not run
      EXPECT_GT(e_ctx, 1e-4) << "bf16 products asked for, but the error is at f32 level";
      EXPECT_GT(e_fast, 1e-4) << "bf16 products asked for, but the fast path's error is at f32 level";
    }
    EXPECT_EQ(full.seq_len, static_cast<int64_t>(f.c.get_f32("seq_lens").to_floats()[i]));
    // Padded rows of the context are exactly zero.
    const std::vector<float> ctx = full.context.to_floats();
    for (size_t e = static_cast<size_t>(full.seq_len * 64); e < ctx.size(); ++e) ASSERT_EQ(ctx[e], 0.0f);
    if (i == 0) {
      ASSERT_EQ(full.block_outs.size(), 3u);
      for (size_t n = 0; n < 3; ++n) {
        const double e = test::relative_l2(full.block_outs[n], f.c.get_f32("debug.prompt0.block." + std::to_string(n) + ".out"));
        std::printf("  block %zu out %.3g\n", n, e);
        EXPECT_LE(e, tol) << "block " << n;
      }
    }
  }
}

TEST(Umt5, FixtureContextF32) { check_fixture(MatmulPrecision::F32, 1e-4); }
TEST(Umt5, FixtureContextBf16Products) { check_fixture(MatmulPrecision::BF16, 1e-2); }

TEST(Umt5, Float64ReferenceReproducesFixture) {
  // The reference must agree with the fixture before it may judge other widths.
  const Fixture f;
  testref::Umt5Spec s{.vocab = 512, .dim = 64, .dim_attn = 64, .dim_ffn = 160, .heads = 4, .layers = 3};
  std::map<std::string, Tensor> w;
  for (const std::string& n : f.w.names()) w[n] = f.w.get(n).to(DType::F32);
  std::vector<std::vector<double>> blocks;
  const std::vector<double> out = testref::umt5_encode_ref(s, w, f.ids(0), f.mask(0), &blocks);
  EXPECT_LE(testref::rel_l2(row(f.c.get_f32("encoder_out"), 0), out), 1e-5);
  EXPECT_LE(testref::rel_l2(f.c.get_f32("debug.prompt0.block.2.out").to_floats(), blocks[2]), 1e-5);
}

// ---- other widths, head counts, a 512-token prompt: against the float64 reference -------------

// ids / mask of `len` tokens with `real` of them real (EOS last), random in-vocabulary ids.
void random_prompt(int64_t vocab, int64_t len, int64_t real, uint32_t seed, std::vector<int32_t>& ids,
                   std::vector<float>& mask) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int32_t> u(3, static_cast<int32_t>(vocab - 1));
  ids.assign(static_cast<size_t>(len), 0);
  mask.assign(static_cast<size_t>(len), 0.0f);
  for (int64_t i = 0; i < real; ++i) {
    ids[i] = i + 1 == real ? 1 : u(g);
    mask[i] = 1.0f;
  }
}

void check_random(const testref::Umt5Spec& s, int64_t len, int64_t real) {
  SCOPED_TRACE("vocab " + std::to_string(s.vocab) + " dim " + std::to_string(s.dim) + " dim_attn " +
               std::to_string(s.dim_attn) + " ffn " + std::to_string(s.dim_ffn) + " heads " + std::to_string(s.heads) +
               " layers " + std::to_string(s.layers) + " len " + std::to_string(len) + " real " + std::to_string(real));
  const auto tensors = testref::random_umt5(s);
  const std::string path = test::temp_dir() + "/umt5.safetensors";
  testref::write_umt5(path, s, tensors);
  const WeightMap w = WeightMap::open(path);
  std::vector<int32_t> ids;
  std::vector<float> mask;
  random_prompt(s.vocab, len, real, static_cast<uint32_t>(s.seed * 7 + len), ids, mask);
  std::vector<double> ref = testref::umt5_encode_ref(s, tensors, ids, mask);
  std::vector<double> ref_ctx = ref;
  for (size_t e = static_cast<size_t>(real * s.dim); e < ref_ctx.size(); ++e) ref_ctx[e] = 0.0;
  for (auto [p, tol] : {std::pair{MatmulPrecision::F32, 1e-4}, std::pair{MatmulPrecision::BF16, 1e-2}}) {
    const Umt5Encoder enc(w, p);
    EXPECT_EQ(enc.config().heads, s.heads);
    EXPECT_EQ(enc.config().dim_attn, s.dim_attn);
    const Umt5Encoder::Output full = enc.encode(ids, mask, {.full = true});
    const double e_out = testref::rel_l2(full.encoder_out.to_floats(), ref);
    const double e_ctx = testref::rel_l2(enc.encode(ids, mask).to_floats(), ref_ctx);
    std::printf("  %s: encoder_out %.3g context %.3g\n", ops::precision_name(p), e_out, e_ctx);
    EXPECT_LE(e_out, tol) << ops::precision_name(p);
    EXPECT_LE(e_ctx, tol) << ops::precision_name(p);
    if (p == MatmulPrecision::BF16) {
      EXPECT_GT(e_ctx, 1e-4) << "bf16 products asked for, but the error is at f32 level";
    }
  }
}

TEST(Umt5, AttentionWidthOtherThanDim) {
  check_random({.vocab = 320, .dim = 48, .dim_attn = 64, .dim_ffn = 96, .heads = 2, .layers = 2, .seed = 3}, 96, 37);
}

TEST(Umt5, OtherHeadCountsAndWidths) {
  check_random({.vocab = 200, .dim = 40, .dim_attn = 40, .dim_ffn = 72, .heads = 5, .layers = 3, .seed = 4}, 70, 70);
  check_random({.vocab = 150, .dim = 36, .dim_attn = 24, .dim_ffn = 50, .heads = 3, .layers = 1, .seed = 5}, 130, 1);
  check_random({.vocab = 90, .dim = 32, .dim_attn = 96, .dim_ffn = 64, .heads = 8, .layers = 2, .seed = 6}, 200, 150);
  check_random({.vocab = 90, .dim = 24, .dim_attn = 24, .dim_ffn = 40, .heads = 1, .layers = 2, .buckets = 16,
                .max_dist = 40, .seed = 7},
               90, 60);
}

TEST(Umt5, TruncatedPromptOf512Tokens) {
  check_random({.vocab = 320, .dim = 48, .dim_attn = 64, .dim_ffn = 96, .heads = 2, .layers = 2, .seed = 8}, 512, 512);
}

TEST(Umt5, HeadsComeFromPositionTablesWithoutConfig) {
  testref::Umt5Spec s{.vocab = 100, .dim = 32, .dim_attn = 48, .dim_ffn = 40, .heads = 3, .layers = 2,
                      .write_config = false, .seed = 9};
  const std::string path = test::temp_dir() + "/umt5.safetensors";
  testref::write_umt5(path, s, testref::random_umt5(s));
  const Umt5Config c = umt5_config(WeightMap::open(path));
  EXPECT_EQ(c.heads, 3);
  EXPECT_EQ(c.dim_attn, 48);
  EXPECT_EQ(c.text_len, 512);
  EXPECT_FLOAT_EQ(c.eps, 1e-6f);
}

// ---- bad weights and inputs ----------------------------------------------------------------------

std::string load_error(const testref::Umt5Spec& s, const std::function<void(std::map<std::string, Tensor>&)>& edit,
                       std::string* path_out = nullptr) {
  auto t = testref::random_umt5(s);
  edit(t);
  const std::string path = test::temp_dir() + "/bad.safetensors";
  testref::write_umt5(path, s, t);
  if (path_out) *path_out = path;
  return error_of([&] { Umt5Encoder e(WeightMap::open(path), MatmulPrecision::F32); });
}

TEST(Umt5, BadWeightsAreNamedErrors) {
  const testref::Umt5Spec s{.vocab = 50, .dim = 16, .dim_attn = 16, .dim_ffn = 24, .heads = 2, .layers = 2};
  std::string path;
  std::string e = load_error(s, [](auto& t) { t.erase("blocks.1.ffn.fc2.weight"); }, &path);
  EXPECT_NE(e.find(path), std::string::npos) << e;
  EXPECT_NE(e.find("missing tensor 'blocks.1.ffn.fc2.weight'"), std::string::npos) << e;
  e = load_error(s, [](auto& t) { t["blocks.1.attn.o.weight"] = Tensor::zeros({16, 8}); }, &path);
  EXPECT_NE(e.find("'blocks.1.attn.o.weight' has shape [16, 8], expected [16, 16]"), std::string::npos) << e;
  e = load_error(s, [](auto& t) { t["norm.weight"] = Tensor::zeros({17}); });
  EXPECT_NE(e.find("'norm.weight' has shape [17]"), std::string::npos) << e;
  e = load_error(s, [](auto& t) { t["blocks.0.pos_embedding.embedding.weight"] = Tensor::zeros({32, 3}); });
  EXPECT_NE(e.find("num_heads = 2 but the tensors say 3"), std::string::npos) << e;
  e = load_error(s, [](auto& t) { t.erase("token_embedding.weight"); });
  EXPECT_NE(e.find("missing tensor 'token_embedding.weight'"), std::string::npos) << e;
  testref::Umt5Spec no_cfg = s;
  no_cfg.write_config = false;
  e = load_error(no_cfg, [](auto& t) { t["blocks.0.pos_embedding.embedding.weight"] = Tensor::zeros({32, 3}); });
  EXPECT_NE(e.find("does not split into 3 heads"), std::string::npos) << e;
}

TEST(Umt5, BadIdsAndMasksAreNamedErrors) {
  const Fixture f;
  const Umt5Encoder enc(f.w, MatmulPrecision::F32);
  std::vector<int32_t> ids = f.ids(0);
  std::vector<float> mask = f.mask(0);
  ids[5] = 512;
  std::string e = error_of([&] { enc.encode(ids, mask); });
  EXPECT_NE(e.find(kWeights), std::string::npos) << e;
  EXPECT_NE(e.find("token id 512 at position 5 is outside the vocabulary [0, 512)"), std::string::npos) << e;
  ids[5] = -1;
  EXPECT_NE(error_of([&] { enc.encode(ids, mask); }).find("token id -1"), std::string::npos);
  ids = f.ids(0);
  mask.pop_back();
  EXPECT_NE(error_of([&] { enc.encode(ids, mask); }).find("512 token ids but 511 mask values"), std::string::npos);
  mask = f.mask(0);
  mask[3] = 0.5f;
  EXPECT_NE(error_of([&] { enc.encode(ids, mask); }).find("neither 0 nor 1"), std::string::npos);
  EXPECT_NE(error_of([&] { enc.encode({}, {}); }).find("no tokens"), std::string::npos);
}

// ---- memory ------------------------------------------------------------------------------------

TEST(Umt5, MemoryBytesOfXxlMatchThePublishedParameterCount) {
  Umt5Config xxl{.vocab = 256384, .dim = 4096, .dim_attn = 4096, .dim_ffn = 10240, .layers = 24, .heads = 64};
  // spec 1.3: 5,680,910,336 parameters, of which the norms and bucket tables are
  // 24 * (2 * 4096 + 32 * 64) + 4096 (kept in f32; the rest bf16).
  const int64_t params = 5680910336, vectors = 24 * (2 * 4096 + 32 * 64) + 4096;
  const Umt5Bytes b = umt5_memory_bytes(xxl, MatmulPrecision::BF16, 2);
  EXPECT_EQ(b.weights, 2 * (params - vectors) + 4 * vectors);
  const Umt5Bytes f = umt5_memory_bytes(xxl, MatmulPrecision::F32, 4);
  EXPECT_EQ(f.weights, 4 * params);
  // One prompt: the [64, 512, 512] bias dominates a few [512, 10240] buffers.
  EXPECT_EQ(b.activations, 4 * (5 * 512 * 4096 + 4 * 512 * 4096 + 2 * 512 * 10240 + 64 * 512 * 512 + 512));
  EXPECT_EQ(b.total(), b.weights + b.activations);
}

TEST(Umt5, MemoryPlannerCountsTheEncoderOnTheDeviceOrNotAtAll) {
  const Umt5Config xxl{.vocab = 256384, .dim = 4096, .dim_attn = 4096, .dim_ffn = 10240, .layers = 24, .heads = 64};
  const Umt5Bytes b = umt5_memory_bytes(xxl, MatmulPrecision::BF16, 2);
  MemoryPlan gpu, cpu;
  add_text_encoder(gpu, xxl, MatmulPrecision::BF16, true);
  add_text_encoder(cpu, xxl, MatmulPrecision::BF16, false);
  EXPECT_EQ(gpu.total_bytes(), b.total());
  // The published bf16 file holds 11,361,820,672 bytes of tensors; the norms and
  // bucket tables kept in f32 add under a megabyte.
  EXPECT_GE(b.weights, int64_t{11361820672});
  EXPECT_LT(b.weights, int64_t{11361820672} + (1 << 20));
  EXPECT_EQ(cpu.total_bytes(), 0);
  ASSERT_EQ(cpu.rows.size(), 1u);
  EXPECT_NE(cpu.rows[0].what.find("on the CPU: " + std::to_string((b.total() + (1 << 20) - 1) >> 20) + " MiB"),
            std::string::npos)
      << cpu.rows[0].what;
  // A 16 GB card with 10 GiB left for the encoder: refused on the device, fine on the CPU.
  const std::string e = error_of([&] { check_plan_fits(gpu, int64_t{10} << 30, "a 16 GB card", "the cache"); });
  EXPECT_NE(e.find("MiB"), std::string::npos) << e;
  EXPECT_NO_THROW(check_plan_fits(cpu, int64_t{10} << 30, "a 16 GB card", "the cache"));
}

// ---- the prompt cache ---------------------------------------------------------------------------

TEST(Umt5PromptCache, MemoryThenDiskThenRecomputesACorruptFile) {
  const Fixture f;
  const Umt5Encoder enc(f.w, MatmulPrecision::F32);
  const Umt5Tokenizer tok(kSpm);
  const std::string dir = test::temp_dir() + "/text";
  const std::string prompt = json_list(f.c, "prompts")[1];
  const std::vector<float> want = row(f.c.get_f32("context"), 1);
  std::vector<float> first;
  {
    PromptEmbeddingCache cache(dir);
    first = cache.get(enc, tok, prompt).context.to_floats();
    EXPECT_LE(rel(first, want), 1e-4);
    EXPECT_EQ(cache.stats().computed, 1);
    cache.get(enc, tok, json_list(f.c, "prompts")[0]);  // another prompt, then back
    const PromptEmbeddingCache::Entry& again = cache.get(enc, tok, prompt);
    EXPECT_EQ(cache.stats().computed, 2);
    EXPECT_EQ(cache.stats().memory_hits, 1);
    EXPECT_EQ(again.context.to_floats(), first);
    EXPECT_EQ(again.seq_len, 52);
  }
  const Umt5Tokens t = tok.tokenize(prompt, 512);
  const std::string file = PromptEmbeddingCache(dir).file_of(PromptEmbeddingCache::key_of(enc, t.ids, t.mask));
  {
    PromptEmbeddingCache cache(dir);  // a new process: from disk, bit for bit
    EXPECT_EQ(cache.get(enc, tok, prompt).context.to_floats(), first);
    EXPECT_EQ(cache.stats().disk_hits, 1);
    EXPECT_EQ(cache.stats().computed, 0);
  }
  auto corrupt = [&](const std::function<void(std::string&)>& edit) {
    std::string bytes;
    {
      std::ifstream in(file, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    edit(bytes);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    PromptEmbeddingCache cache(dir);
    const std::vector<float> got = cache.get(enc, tok, prompt).context.to_floats();
    EXPECT_EQ(cache.stats().rejected_files, 1);
    EXPECT_EQ(cache.stats().computed, 1);
    EXPECT_LE(rel(got, want), 1e-4);
  };
  corrupt([](std::string& b) { b[b.size() - 7] ^= 0x40; });  // a flipped bit in the context
  corrupt([](std::string& b) { b.resize(b.size() - 100); });  // truncated
  corrupt([](std::string& b) { b[60] ^= 1; });                // a flipped token id
  corrupt([](std::string& b) { b = "garbage"; });
  // After the last recompute the file is whole again.
  PromptEmbeddingCache cache(dir);
  cache.get(enc, tok, prompt);
  EXPECT_EQ(cache.stats().disk_hits, 1);
}

TEST(Umt5PromptCache, KeyDependsOnWeightsPrecisionAndIds) {
  const Fixture f;
  const Umt5Encoder f32(f.w, MatmulPrecision::F32), bf16(f.w, MatmulPrecision::BF16);
  const std::vector<int32_t> ids = f.ids(0);
  const std::vector<float> mask = f.mask(0);
  EXPECT_NE(PromptEmbeddingCache::key_of(f32, ids, mask), PromptEmbeddingCache::key_of(bf16, ids, mask));
  std::vector<int32_t> other = ids;
  other[3] = other[3] + 1;
  EXPECT_NE(PromptEmbeddingCache::key_of(f32, ids, mask), PromptEmbeddingCache::key_of(f32, other, mask));
  // Weights that differ in one value of the final norm.
  testref::Umt5Spec s{.vocab = 512, .dim = 64, .dim_attn = 64, .dim_ffn = 160, .heads = 4, .layers = 3};
  std::map<std::string, Tensor> w;
  for (const std::string& n : f.w.names()) w[n] = f.w.get(n).to(DType::F32);
  w["norm.weight"].f32()[7] += 1.0f;
  const std::string path = test::temp_dir() + "/w.safetensors";
  testref::write_umt5(path, s, w);
  const WeightMap changed_map = WeightMap::open(path);
  const Umt5Encoder changed(changed_map, MatmulPrecision::F32);
  EXPECT_NE(f32.weights_hash(), changed.weights_hash());
  EXPECT_EQ(f32.weights_hash(), Umt5Encoder(f.w, MatmulPrecision::F32).weights_hash());
  // Memory only: nothing is written.
  PromptEmbeddingCache mem("");
  mem.get(f32, ids, mask);
  mem.get(f32, ids, mask);
  EXPECT_EQ(mem.stats().computed, 1);
  EXPECT_EQ(mem.stats().memory_hits, 1);
}

// ---- worldloop text-encode ---------------------------------------------------------------------

// Runs the command; returns its exit code and its output.
int text_encode(const std::string& args, std::string* out) { return test::run_worldloop("text-encode " + args, out); }

size_t lines(const std::string& s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == '\n' || i + 1 == s.size()) ++n;
  return n;
}

TEST(Umt5TextEncode, GoldenCaseFromIdsAndFromPrompts) {
  const SafetensorsFile c = open_float_tensors(kCase);
  const std::string dir = test::temp_dir();
  struct Run {
    std::string flags;
    double tol;
  };
  for (const Run& r : {Run{"", 1e-4}, Run{"--tokenizer " + kSpm, 1e-4}, Run{"--tokenizer " + kSpm + " --precision bf16", 1e-2},
                       Run{"--precision bf16", 1e-2}}) {
    SCOPED_TRACE(r.flags);
    const std::string out = dir + "/out.safetensors";
    std::string log;
    ASSERT_EQ(text_encode("--weights " + kWeights + " --case " + kCase + " --out " + out + " " + r.flags, &log), 0) << log;
    const SafetensorsFile o = SafetensorsFile::open(out);
    EXPECT_EQ(o.get_f32("ids").to_floats(), c.get_f32("ids").to_floats());
    ASSERT_EQ(o.info("context").shape, (Shape{3, 512, 64}));
    const double e = test::relative_l2(o.get_f32("context"), c.get_f32("context"));
    std::printf("  text-encode %s: context rel L2 %.3g\n", r.flags.c_str(), e);
    EXPECT_LE(e, r.tol);
  }
}

TEST(Umt5TextEncode, PublishedPthLayoutThroughWeightMap) {
  // ckpt/t5_like.pth is laid out like models_t5_umt5-xxl-enc-bf16.pth (a
  // torch.save OrderedDict of bf16 tensors) and holds the umt5_tiny weights.
  const std::string pth = test::data_path("ckpt/t5_like.pth");
  ASSERT_TRUE(std::ifstream(pth).good()) << pth << " is missing";
  const std::string out = test::temp_dir() + "/out.safetensors";
  std::string log;
  ASSERT_EQ(text_encode("--weights " + pth + " --case " + kCase + " --tokenizer " + kSpm + " --out " + out, &log), 0)
      << log;
  const SafetensorsFile o = SafetensorsFile::open(out);
  const SafetensorsFile c = open_float_tensors(kCase);
  EXPECT_EQ(o.get_f32("ids").to_floats(), c.get_f32("ids").to_floats());
  EXPECT_LE(test::relative_l2(o.get_f32("context"), c.get_f32("context")), 1e-4);
}

TEST(Umt5TextEncode, BadInputIsOneNamedLine) {
  const std::string dir = test::temp_dir(), out = dir + "/out.safetensors";
  const std::string base = "--weights " + kWeights + " --out " + out;
  auto expect_error = [&](const std::string& args, const std::string& want) {
    std::string log;
    EXPECT_NE(text_encode(args, &log), 0) << args;
    EXPECT_NE(log.find(want), std::string::npos) << args << "\n" << log;
    EXPECT_EQ(lines(log), 1u) << log;
  };
  expect_error(base + " --case " + kCase + " --tokenizer " + dir + "/none.model",
               dir + "/none.model: cannot open the SentencePiece model");
  expect_error(base + " --case " + dir + "/none.safetensors", dir + "/none.safetensors: cannot open");
  expect_error("--weights " + dir + "/w.safetensors --out " + out + " --case " + kCase, dir + "/w.safetensors");
  expect_error(base, "missing --case");

  // A case whose ids leave the vocabulary, one without a mask, one with a mask of another shape.
  Tensor ids = Tensor::zeros({2, 512}), mask = Tensor::zeros({2, 512});
  ids.f32()[512 + 3] = 600;
  write_safetensors(dir + "/vocab.safetensors", {{"ids", ids}, {"mask", mask}});
  expect_error(base + " --case " + dir + "/vocab.safetensors",
               dir + "/vocab.safetensors: ids[1, 3] = 600.000000 is not a token id of " + kWeights);
  ids.f32()[512 + 3] = 2.5f;
  write_safetensors(dir + "/frac.safetensors", {{"ids", ids}, {"mask", mask}});
  expect_error(base + " --case " + dir + "/frac.safetensors", "ids[1, 3] = 2.500000 is not a token id");
  write_safetensors(dir + "/nomask.safetensors", {{"ids", Tensor::zeros({2, 512})}});
  expect_error(base + " --case " + dir + "/nomask.safetensors", dir + "/nomask.safetensors: missing tensor 'mask'");
  write_safetensors(dir + "/shape.safetensors", {{"ids", Tensor::zeros({2, 512})}, {"mask", Tensor::zeros({2, 511})}});
  expect_error(base + " --case " + dir + "/shape.safetensors", "tensor 'mask' has shape [2, 511], expected [2, 512]");
  expect_error(base + " --case " + dir + "/shape.safetensors --tokenizer " + kSpm, "no __metadata__.prompts");

  // Weights with a tensor missing and with a tensor of the wrong shape.
  const testref::Umt5Spec s{.vocab = 512, .dim = 16, .dim_attn = 16, .dim_ffn = 24, .heads = 2, .layers = 2};
  auto t = testref::random_umt5(s);
  t.erase("blocks.1.attn.k.weight");
  testref::write_umt5(dir + "/missing.safetensors", s, t);
  expect_error("--weights " + dir + "/missing.safetensors --out " + out + " --case " + kCase,
               dir + "/missing.safetensors: missing tensor 'blocks.1.attn.k.weight'");
  t = testref::random_umt5(s);
  t["blocks.0.ffn.fc1.weight"] = Tensor::zeros({24, 15});
  testref::write_umt5(dir + "/shape_w.safetensors", s, t);
  expect_error("--weights " + dir + "/shape_w.safetensors --out " + out + " --case " + kCase,
               "tensor 'blocks.0.ffn.fc1.weight' has shape [24, 15], expected [24, 16]");
  // The tokenizer's ids must fit the weights' vocabulary.
  const testref::Umt5Spec small{.vocab = 100, .dim = 16, .dim_attn = 16, .dim_ffn = 24, .heads = 2, .layers = 1};
  testref::write_umt5(dir + "/small.safetensors", small, testref::random_umt5(small));
  expect_error("--weights " + dir + "/small.safetensors --out " + out + " --case " + kCase + " --tokenizer " + kSpm,
               "is outside the vocabulary [0, 100)");
}

}  // namespace
}  // namespace wl
