// KvStore::save_state / load_state: the store as a part of a saved world
// state (runtime/core/state_file.h). Everything that decides a later call's
// output is written: the rows of every slot (queued merges applied), the
// token metadata, the free lists in their order (the next slots handed out),
// each frame's slots, the newest and first frames and the policy's own
// statistics. The statistics snapshot for the overlay is recomputed.
#include <algorithm>
#include <string>

#include "cache/kv_store.h"
#include "runtime/core/error.h"
#include "runtime/core/state_file.h"

namespace wl::cache {

namespace {
std::string block_key(const std::string& prefix, int64_t b, const char* what) {
  return prefix + ".b" + std::to_string(b) + "." + what;
}
}  // namespace

void KvStore::save_state(StateWriter& out, const std::string& prefix) const {
  nlohmann::json& j = out.json()[prefix];
  const KvStoreConfig& c = config_;
  j = {{"blocks", c.blocks},
       {"heads", c.heads},
       {"head_dim", c.head_dim},
       {"rows", c.rows},
       {"cols", c.cols},
       {"sink_frames", c.sink_frames},
       {"max_attention_tokens", c.max_attention_tokens},
       {"budget_tokens", c.budget_tokens},
       {"policy", policy_->name()},
       {"newest_frame", newest_frame_},
       {"first_frame", first_frame_},
       {"any_merged", any_merged_}};
  for (int64_t b = 0; b < c.blocks; ++b) {
    out.tensor(block_key(prefix, b, "k_raw"), rows(RowKind::KRaw, b));  // [slots, heads, head_dim]
    out.tensor(block_key(prefix, b, "k_rot"), rows(RowKind::KRot, b));  // [slots, heads, head_dim]
    out.tensor(block_key(prefix, b, "v"), rows(RowKind::V, b));         // [slots, heads, head_dim]
    std::vector<int64_t> frame, row, col;
    std::vector<float> log_count;
    for (const TokenMeta& m : meta_[b]) {
      frame.push_back(m.frame);
      row.push_back(m.row);
      col.push_back(m.col);
      log_count.push_back(m.log_count);
    }
    out.i64(block_key(prefix, b, "frame"), frame);          // [slots]
    out.i64(block_key(prefix, b, "row"), row);              // [slots]
    out.i64(block_key(prefix, b, "col"), col);              // [slots]
    out.f32(block_key(prefix, b, "log_count"), log_count);  // [slots]
    out.i64(block_key(prefix, b, "free"), std::vector<int64_t>(free_[b].begin(), free_[b].end()));
    std::vector<int64_t> frames;  // per cached frame: the frame, then its tokens' slots
    for (const auto& [f, slots] : frame_slots_[b]) {
      frames.push_back(f);
      frames.insert(frames.end(), slots.begin(), slots.end());
    }
    out.i64(block_key(prefix, b, "frame_slots"), frames);
  }
  policy_->save_state(out, prefix + ".policy");
}

void KvStore::load_state(const StateReader& in, const std::string& prefix, const PolicyOptions& options) {
  const KvStoreConfig& c = config_;
  auto need = [&](const char* key, int64_t mine) {
    const int64_t saved = in.integer(prefix + "/" + key);
    if (saved != mine)
      in.fail("the state's KV cache has " + std::string(key) + " " + std::to_string(saved) + ", this world's has " +
              std::to_string(mine) + " (a state of another world or configuration)");
  };
  need("blocks", c.blocks);
  need("heads", c.heads);
  need("head_dim", c.head_dim);
  need("rows", c.rows);
  need("cols", c.cols);
  need("sink_frames", c.sink_frames);
  need("max_attention_tokens", c.max_attention_tokens);
  const int64_t budget = in.integer(prefix + "/budget_tokens");
  if (budget < c.tokens_per_frame() || budget > (int64_t{1} << 26))
    in.fail("the state's KV budget of " + std::to_string(budget) + " tokens is out of range");
  std::unique_ptr<CachePolicy> policy;
  try {
    policy = make_policy(in.string(prefix + "/policy"), options);
  } catch (const Error& e) {
    in.fail(e.what());
  }
  const int64_t newest = in.integer(prefix + "/newest_frame");
  const int64_t first = in.integer(prefix + "/first_frame");
  const bool any_merged = in.boolean(prefix + "/any_merged");
  if (newest < -1 || first < -1 || (first < 0) != (newest < 0) || first > newest + 1)
    in.fail("the state's KV cache has newest frame " + std::to_string(newest) + " and first frame " +
            std::to_string(first));

  // Read and check everything before touching this store.
  const int64_t tpf = c.tokens_per_frame();
  const Shape row_shape{budget, c.heads, c.head_dim};
  std::vector<BlockRows> rows(static_cast<size_t>(c.blocks));
  std::vector<std::vector<TokenMeta>> meta(static_cast<size_t>(c.blocks));
  std::vector<std::vector<int32_t>> free(static_cast<size_t>(c.blocks));
  std::vector<int64_t> used(static_cast<size_t>(c.blocks), 0);
  std::vector<std::map<int64_t, std::vector<int32_t>>> frame_slots(static_cast<size_t>(c.blocks));
  for (int64_t b = 0; b < c.blocks; ++b) {
    const std::string where = "block " + std::to_string(b) + " of the state's KV cache";
    BlockRows& r = rows[b];
    r.k_raw = ops::to_backend(in.tensor(block_key(prefix, b, "k_raw"), row_shape), c.backend);
    r.k_rot = ops::to_backend(in.tensor(block_key(prefix, b, "k_rot"), row_shape), c.backend);
    r.v = ops::to_backend(in.tensor(block_key(prefix, b, "v"), row_shape), c.backend);
    r.bias = ops::zeros({budget}, c.backend);  // bias() refills it from the log counts
    r.bias_values.assign(static_cast<size_t>(budget), 0.0f);
    const std::vector<int64_t> frame = in.i64(block_key(prefix, b, "frame"), budget);
    const std::vector<int64_t> row = in.i64(block_key(prefix, b, "row"), budget);
    const std::vector<int64_t> col = in.i64(block_key(prefix, b, "col"), budget);
    const std::vector<float> log_count = in.f32(block_key(prefix, b, "log_count"), budget);
    meta[b].resize(static_cast<size_t>(budget));
    for (int64_t s = 0; s < budget; ++s) {
      TokenMeta& m = meta[b][s];
      if (frame[s] < -1 || frame[s] > newest || row[s] < 0 || row[s] >= c.rows || col[s] < 0 || col[s] >= c.cols ||
          !(log_count[s] >= 0.0f && log_count[s] < 64.0f))
        in.fail(where + ": slot " + std::to_string(s) + " has impossible bookkeeping");
      m.frame = frame[s];
      m.row = static_cast<int32_t>(row[s]);
      m.col = static_cast<int32_t>(col[s]);
      m.log_count = log_count[s];
      used[b] += m.used();
    }
    std::vector<uint8_t> seen(static_cast<size_t>(budget), 0);
    for (int64_t s : in.i64(block_key(prefix, b, "free"))) {
      if (s < 0 || s >= budget || seen[s] || meta[b][s].used())
        in.fail(where + ": its free list names slot " + std::to_string(s) + ", which is not a free slot");
      seen[s] = 1;
      free[b].push_back(static_cast<int32_t>(s));
    }
    if (static_cast<int64_t>(free[b].size()) + used[b] != budget)
      in.fail(where + ": " + std::to_string(used[b]) + " used and " + std::to_string(free[b].size()) +
              " free slots do not make the budget of " + std::to_string(budget));
    const std::vector<int64_t> fs = in.i64(block_key(prefix, b, "frame_slots"));
    if (fs.size() % static_cast<size_t>(tpf + 1))
      in.fail(where + ": its frame table is not whole frames of " + std::to_string(tpf) + " tokens");
    int64_t listed = 0;
    for (size_t i = 0; i < fs.size(); i += static_cast<size_t>(tpf + 1)) {
      const int64_t f = fs[i];
      std::vector<int32_t> slots(static_cast<size_t>(tpf), -1);
      for (int64_t t = 0; t < tpf; ++t) {
        const int64_t s = fs[i + 1 + static_cast<size_t>(t)];
        if (s == -1) continue;
        if (s < 0 || s >= budget || meta[b][s].frame != f || meta[b][s].row * c.cols + meta[b][s].col != t)
          in.fail(where + ": frame " + std::to_string(f) + " names slot " + std::to_string(s) +
                  ", which does not hold its token " + std::to_string(t));
        slots[static_cast<size_t>(t)] = static_cast<int32_t>(s);
        ++listed;
      }
      if (!frame_slots[b].emplace(f, std::move(slots)).second)
        in.fail(where + ": frame " + std::to_string(f) + " is listed twice");
    }
    // A merged-away token's slot is free, so every used slot is listed once.
    if (listed != used[b]) in.fail(where + ": " + std::to_string(used[b]) + " used slots but " +
                                   std::to_string(listed) + " in its frame table");
  }

  config_.budget_tokens = budget;
  policy_ = std::move(policy);
  rows_ = std::move(rows);
  meta_ = std::move(meta);
  free_ = std::move(free);
  used_ = std::move(used);
  frame_slots_ = std::move(frame_slots);
  call_slots_.assign(c.blocks, {});
  evicted_.assign(c.blocks, {});
  merged_frames_.assign(c.blocks, {});
  newest_frame_ = newest;
  first_frame_ = first;
  any_merged_ = any_merged;
  policy_ms_ = 0;
  policy_->load_state(in, prefix + ".policy", *this);
  refresh_stats();
}

}  // namespace wl::cache
