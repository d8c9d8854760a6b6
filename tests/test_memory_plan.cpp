// The device memory planner's arithmetic (runtime/model/memory_plan.*) on the
// Wan 2.1 1.3B configuration at 832x480, checked against numbers worked out
// by hand below; and the refusal message when a plan does not fit.
#include <gtest/gtest.h>

#include <string>

#include "runtime/core/error.h"
#include "runtime/model/causal_dit.h"
#include "runtime/model/memory_plan.h"

namespace wl {
namespace {

DitConfig wan_1_3b() {
  DitConfig c;
  c.in_dim = 16;
  c.out_dim = 16;
  c.dim = 1536;
  c.ffn_dim = 8960;
  c.freq_dim = 256;
  c.text_dim = 4096;
  c.text_len = 512;
  c.num_heads = 12;
  c.num_layers = 30;
  c.patch_t = 1;
  c.patch_h = 2;
  c.patch_w = 2;
  c.local_attn_size = -1;
  return c;
}

// 832x480 pixels -> latents 60 x 104 -> 30 x 52 = 1560 tokens per frame;
// chunks of 3 frames (4680 tokens), a cache of 21 frames (32760 tokens).
constexpr int64_t kHeight = 60, kWidth = 104, kChunk = 3, kCacheFrames = 21;

int64_t row_bytes(const MemoryPlan& plan, const std::string& starts_with) {
  for (const MemoryPlanRow& r : plan.rows)
    if (r.what.rfind(starts_with, 0) == 0) return r.bytes;
  ADD_FAILURE() << "no row '" << starts_with << "'";
  return -1;
}

TEST(MemoryPlan, Wan13bWeightsCountEveryMatrixAndVector) {
  const DitConfig c = wan_1_3b();
  // Per block: 8 attention projections 1536x1536 (self and cross q, k, v, o)
  // and the FFN's 8960x1536 and 1536x8960.
  const int64_t per_block = 8 * 1536 * 1536 + 2 * 8960 * 1536;  // 46,399,488
  // Outside the blocks: patch embedding 1536 x (16*2*2), time embedding
  // 1536x256 and 1536x1536, time projection 9216x1536, text embedding
  // 1536x4096 and 1536x1536, head 64x1536.
  const int64_t outside = 1536 * 64 + 1536 * 256 + 1536 * 1536 + 9216 * 1536 + 1536 * 4096 + 1536 * 1536 + 64 * 1536;
  EXPECT_EQ(dit_matrix_elements(c), 30 * per_block + outside);
  EXPECT_EQ(dit_matrix_elements(c), 1'417'740'288);

  // Biases outside the blocks: 5 of 1536, the projection's 9216, the head's 64;
  // per block 8 of 1536, 8960 and 1536; head.modulation 2x1536; per block the
  // modulation 6x1536 and 6 vectors of 1536 (norm_q, norm_k twice, norm3 weight and bias).
  const int64_t vectors = (5 * 1536 + 9216 + 64) + 30 * (8 * 1536 + 8960 + 1536) + 2 * 1536 + 30 * 12 * 1536;
  EXPECT_EQ(dit_vector_elements(c), vectors);
  EXPECT_EQ(dit_vector_elements(c), 1'256'512);

  const cache::KvStoreConfig kv = dit_cache_config(c, kHeight, kWidth, kCacheFrames, 0, Backend::CUDA);
  const MemoryPlan bf16 = plan_dit_memory(c, ops::MatmulPrecision::BF16, kv, {kChunk, kHeight, kWidth});
  const MemoryPlan f32 = plan_dit_memory(c, ops::MatmulPrecision::F32, kv, {kChunk, kHeight, kWidth});
  EXPECT_EQ(row_bytes(bf16, "weights"), int64_t{1'417'740'288} * 2 + 1'256'512 * 4);  // 2,840,506,624 (2709 MiB)
  EXPECT_EQ(row_bytes(f32, "weights"), int64_t{1'417'740'288} * 4 + 1'256'512 * 4);   // 5,675,987,200 (5413 MiB)
}

TEST(MemoryPlan, Wan13bAt832x480ChunkOf3Cache21Frames) {
  const DitConfig c = wan_1_3b();
  const cache::KvStoreConfig kv = dit_cache_config(c, kHeight, kWidth, kCacheFrames, 0, Backend::CUDA);
  ASSERT_EQ(kv.tokens_per_frame(), 1560);
  ASSERT_EQ(kv.budget_tokens, 32760);
  const MemoryPlan plan = plan_dit_memory(c, ops::MatmulPrecision::BF16, kv, {kChunk, kHeight, kWidth});

  // KV cache: 30 blocks x 32760 tokens x 12 heads x 128 x 3 arrays x 4 bytes.
  const int64_t kv_bytes = int64_t{30} * 32760 * 12 * 128 * 3 * 4;
  EXPECT_EQ(row_bytes(plan, "KV cache"), kv_bytes);
  EXPECT_EQ(kv_bytes, 18'114'969'600);  // 17275.8 MiB

  // Prompt: k and v [512, 1536] per block, the padded context [512, 4096]
  // and two [512, 1536] hidden states, F32.
  EXPECT_EQ(row_bytes(plan, "prompt"), (30 * 2 * 512 * 1536 + 512 * 4096 + 2 * 512 * 1536) * 4);  // 203,423,744

  // Activations of a call of 3 frames, T = 4680 tokens, F32:
  const int64_t T = 4680;
  const int64_t floats = 3 * 16 * 60 * 104     // latents in
                         + 3 * 256             // time sinusoid
                         + 3 * 3 * 1536        // t_hidden, e, SiLU(e)
                         + 2 * 3 * 6 * 1536    // e0, a block's modulation
                         + 3 * 2 * 1536        // head modulation
                         + T * 64              // patches
                         + 11 * T * 1536       // x, h, q, k, v, q/k before and after RoPE, attention out, y
                         + T * 8960            // FFN hidden
                         + T * 64              // head tokens
                         + 3 * 16 * 60 * 104;  // flow out
  EXPECT_EQ(row_bytes(plan, "activations"), floats * 4);
  EXPECT_EQ(floats * 4, 489'133'056);  // 466.5 MiB

  // Attention scratch: gathered keys and values of 32760 tokens in F32, bf16
  // copies of q (4680 tokens) and of those keys and values.
  EXPECT_EQ(row_bytes(plan, "attention scratch"), int64_t{2} * 32760 * 1536 * 4 + (4680 + 2 * 32760) * 1536 * 2);
  // Matmul scratch: 32 MiB cuBLASLt workspace and the bf16 copy of the widest input [4680, 8960].
  EXPECT_EQ(row_bytes(plan, "matmul scratch"), (int64_t{32} << 20) + int64_t{4680} * 8960 * 2);
  EXPECT_EQ(row_bytes(plan, "CUDA libraries"), int64_t{512} << 20);

  EXPECT_EQ(plan.total_bytes(), int64_t{2'840'506'624} + 203'423'744 + 18'114'969'600 + 489'133'056 + 618'209'280 +
                                    117'420'032 + 536'870'912);  // 22,920,533,248 = 21858.7 MiB
  const std::string table = plan.table();
  EXPECT_NE(table.find("KV cache"), std::string::npos) << table;
  EXPECT_NE(table.find("17275.8"), std::string::npos) << table;
  EXPECT_NE(table.find("total"), std::string::npos) << table;
  EXPECT_NE(table.find("21858.7"), std::string::npos) << table;
}

TEST(MemoryPlan, ActionModelsAddTheirEmbeddingAndBuffers) {
  DitConfig c = wan_1_3b();
  const int64_t plain_matrices = dit_matrix_elements(c), plain_vectors = dit_vector_elements(c);
  const int64_t plain_act = activation_bytes(c, {kChunk, kHeight, kWidth});
  c.action_dim = 8;
  EXPECT_EQ(dit_matrix_elements(c), plain_matrices + 1536 * 8 + 1536 * 1536);
  EXPECT_EQ(dit_vector_elements(c), plain_vectors + 2 * 1536);
  EXPECT_EQ(activation_bytes(c, {kChunk, kHeight, kWidth}), plain_act + (3 * 8 + 2 * 3 * 1536) * 4);
}

TEST(MemoryPlan, RefusesWithNeedFreeDeviceAndAdvice) {
  const DitConfig c = wan_1_3b();
  const cache::KvStoreConfig kv = dit_cache_config(c, kHeight, kWidth, kCacheFrames, 0, Backend::CUDA);
  const MemoryPlan f32 = plan_dit_memory(c, ops::MatmulPrecision::F32, kv, {kChunk, kHeight, kWidth});
  EXPECT_NO_THROW(check_plan_fits(f32, f32.total_bytes(), "Test GPU", "--budget-frames"));
  try {
    check_plan_fits(f32, int64_t{8} << 30, "Test GPU", "--budget-frames");
    FAIL() << "a plan larger than the free memory was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("needs " + std::to_string(f32.total_bytes() >> 20)), std::string::npos) << msg;
    EXPECT_NE(msg.find("8192.0 MiB free on Test GPU"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lower --budget-frames or use bf16"), std::string::npos) << msg;
  }
  const MemoryPlan bf16 = plan_dit_memory(c, ops::MatmulPrecision::BF16, kv, {kChunk, kHeight, kWidth});
  try {
    check_plan_fits(bf16, int64_t{1} << 30, "Test GPU", "--budget-frames");
    FAIL() << "a plan larger than the free memory was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("bf16"), std::string::npos) << "bf16 already: " << e.what();
  }
}

}  // namespace
// --max-memory's sizes: binary units, a byte count, and a clear refusal of
// anything else (a typo, a NaN, zero, a negative size, an absurd one).
TEST(MemoryPlan, MaxMemorySizesParseOrAreRefusedByName) {
  EXPECT_EQ(parse_memory_size("8G"), int64_t{8} << 30);
  EXPECT_EQ(parse_memory_size("8GiB"), int64_t{8} << 30);
  EXPECT_EQ(parse_memory_size("512M"), int64_t{512} << 20);
  EXPECT_EQ(parse_memory_size("1.5G"), int64_t{3} << 29);
  EXPECT_EQ(parse_memory_size("2048k"), int64_t{2} << 20);
  EXPECT_EQ(parse_memory_size("1048576"), int64_t{1} << 20);
  for (const char* bad : {"", "12x", "G", "nan", "inf", "0", "-4G", "1K", "2000T", "8 G", "1e400"}) {
    try {
      parse_memory_size(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--max-memory must be a size"), std::string::npos) << e.what();
    }
  }
}

// The plan against --max-memory: the whole plan counts, on the CPU without
// the CUDA-only rows; rows already resident count against the limit too.
TEST(MemoryPlan, MaxMemoryRefusesWithTheNumbers) {
  const DitConfig c = wan_1_3b();
  const cache::KvStoreConfig kv = dit_cache_config(c, kHeight, kWidth, kCacheFrames, 0, Backend::CPU);
  const MemoryPlan plan = plan_dit_memory(c, ops::MatmulPrecision::BF16, kv, {kChunk, kHeight, kWidth});
  int64_t cpu_total = 0;
  for (const MemoryPlanRow& r : plan.rows)
    if (r.what.rfind("CUDA", 0) != 0 && r.what.rfind("matmul scratch", 0) != 0) cpu_total += r.bytes;
  ASSERT_LT(cpu_total, plan.total_bytes());
  // Exactly the CPU rows fit (MemAvailable permitting: this machine has 24 GB, the plan is ~20 GB, so
  // the check against what is free is skipped by marking every row resident).
  const std::vector<std::string> all = {"weights", "prompt", "KV cache", "activations", "attention"};
  EXPECT_NO_THROW(check_memory_limits(plan, Backend::CPU, cpu_total, "--budget-frames", all));
  try {
    check_memory_limits(plan, Backend::CPU, cpu_total - 1, "--budget-frames", all);
    FAIL() << "a plan one byte over --max-memory was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("more than --max-memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lower --budget-frames"), std::string::npos) << msg;
  }
  // Nothing planned is more than any machine has free: refused without --max-memory.
  MemoryPlan huge;
  huge.rows.push_back({"KV cache (test)", int64_t{1} << 50});
  try {
    check_memory_limits(huge, Backend::CPU, 0, "--budget-frames");
    FAIL() << "a petabyte cache was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MiB free on this machine (MemAvailable)"), std::string::npos) << e.what();
  }
  EXPECT_GT(host_available_bytes(), 0);
}

}  // namespace wl
