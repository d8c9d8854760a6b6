#include "cache/kv_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "runtime/core/error.h"

namespace wl::cache {

KvStore::KvStore(const KvStoreConfig& config, std::unique_ptr<CachePolicy> policy)
    : config_(config), policy_(std::move(policy)) {
  if (!policy_) throw Error("kv store: no cache policy");
  if (config.blocks <= 0 || config.heads <= 0 || config.head_dim <= 0 || config.rows <= 0 || config.cols <= 0)
    throw Error("kv store: blocks, heads, head_dim and the token grid must be positive");
  if (config.budget_tokens < config.tokens_per_frame())
    throw Error("kv store: a budget of " + std::to_string(config.budget_tokens) + " tokens holds less than one frame of " +
                std::to_string(config.tokens_per_frame()));
  if (config.sink_frames < 0) throw Error("kv store: negative sink frames");
  if (!ops::backend_available(config.backend))
    throw Error("kv store: keys and values were asked for on a backend that cannot run: " +
                ops::backend_unavailable_reason(config.backend));
  allocate_rows(config.budget_tokens);
  clear();
}

void KvStore::allocate_rows(int64_t slots) {
  const Shape shape{slots, config_.heads, config_.head_dim};
  rows_.resize(static_cast<size_t>(config_.blocks));
  for (BlockRows& r : rows_) {
    r.k_raw = ops::zeros(shape, config_.backend);
    r.k_rot = ops::zeros(shape, config_.backend);
    r.v = ops::zeros(shape, config_.backend);
    r.bias = ops::zeros({slots}, config_.backend);
    r.bias_values.assign(static_cast<size_t>(slots), 0.0f);
    r.merges.clear();
  }
}

Tensor KvStore::rows_at(const float* data, int64_t count) const {
  return Tensor::view(const_cast<float*>(data), {count, config_.heads, config_.head_dim}, DType::F32, nullptr,
                      config_.backend);
}

void KvStore::apply_merges(int64_t b) const {
  BlockRows& r = rows_[b];
  if (r.merges.empty()) return;
  for (Tensor* t : {&r.k_raw, &r.k_rot, &r.v}) ops::merge_rows(*t, r.merges);
  r.merges.clear();
}

const Tensor& KvStore::rows(RowKind kind, int64_t b) const {
  apply_merges(b);
  const BlockRows& r = rows_[b];
  return kind == RowKind::KRaw ? r.k_raw : kind == RowKind::KRot ? r.k_rot : r.v;
}

void KvStore::clear() {
  const int64_t B = config_.blocks;
  meta_.assign(B, std::vector<TokenMeta>(static_cast<size_t>(config_.budget_tokens)));
  free_.assign(B, {});
  for (auto& f : free_)
    for (int64_t s = config_.budget_tokens - 1; s >= 0; --s) f.push_back(static_cast<int32_t>(s));
  used_.assign(B, 0);
  call_slots_.assign(B, {});
  frame_slots_.assign(B, {});
  evicted_.assign(B, {});
  merged_frames_.assign(B, {});
  newest_frame_ = -1;
  first_frame_ = -1;
  any_merged_ = false;
  policy_ms_ = 0;
  policy_->reset();
  stats_ = CacheStats{};
  stats_.policy = policy_->name();
  stats_.budget_tokens = config_.budget_tokens;
  stats_.tokens_per_frame = config_.tokens_per_frame();
  stats_.blocks = static_cast<int32_t>(config_.blocks);
  stats_.bytes_budget = static_cast<int64_t>(3 * n_bytes_per_token() * config_.budget_tokens * config_.blocks);
}

std::vector<int64_t> KvStore::frames() const {
  std::vector<int64_t> out;
  for (const auto& fs : frame_slots_)
    for (const auto& [frame, slots] : fs) out.push_back(frame);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void KvStore::check_layout(int64_t blocks, int64_t heads, int64_t head_dim, int64_t rows, int64_t cols) const {
  const KvStoreConfig& c = config_;
  if (c.blocks != blocks || c.heads != heads || c.head_dim != head_dim || c.rows != rows || c.cols != cols)
    throw Error("kv store: made for " + std::to_string(c.blocks) + " blocks, " + std::to_string(c.heads) + "x" +
                std::to_string(c.head_dim) + " heads, " + std::to_string(c.rows) + "x" + std::to_string(c.cols) +
                " tokens per frame; the call has " + std::to_string(blocks) + " blocks, " + std::to_string(heads) +
                "x" + std::to_string(head_dim) + " heads, " + std::to_string(rows) + "x" + std::to_string(cols));
}

void KvStore::begin_call(int64_t start, int64_t frames, bool cache_update) {
  const int64_t tpf = config_.tokens_per_frame();
  if (frames <= 0) throw Error("kv store: a call needs at least one frame");
  if (start < 0) throw Error("kv store: negative start frame");
  if (frames * tpf > config_.budget_tokens)
    throw Error("kv store: a call of " + std::to_string(frames * tpf) + " tokens exceeds the budget of " +
                std::to_string(config_.budget_tokens));
  if (newest_frame_ >= 0 && start > newest_frame_ + 1)
    throw Error("kv store: call starts at frame " + std::to_string(start) + " but the newest cached frame is " +
                std::to_string(newest_frame_));
  if (first_frame_ < 0) first_frame_ = start;
  call_start_ = start;
  call_frames_ = frames;
  call_update_ = cache_update;

  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t b = 0; b < config_.blocks; ++b) {
    // Slots the call still needs: tokens of its frames the block does not hold.
    int64_t missing = 0;
    for (int64_t f = start; f < start + frames; ++f) {
      auto it = frame_slots_[b].find(f);
      if (it == frame_slots_[b].end()) {
        missing += tpf;
      } else {
        for (int32_t s : it->second) missing += s < 0;
      }
    }
    const int64_t free_now = static_cast<int64_t>(free_[b].size());
    if (missing > free_now) {
      RoomRequest req{b, missing - free_now, start, sink_end()};
      policy_->make_room(*this, req);
      if (static_cast<int64_t>(free_[b].size()) < missing)
        throw Error("kv store: policy '" + policy_->name() + "' freed " +
                    std::to_string(free_[b].size() - free_now) + " of " + std::to_string(missing - free_now) +
                    " slots needed in block " + std::to_string(b) +
                    " (the sink and the current chunk may not fit the budget)");
    }
    call_slots_[b].clear();
    for (int64_t f = start; f < start + frames; ++f) assign_frame(b, f);
  }
  policy_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  newest_frame_ = std::max(newest_frame_, start + frames - 1);
}

void KvStore::assign_frame(int64_t b, int64_t frame) {
  const int64_t tpf = config_.tokens_per_frame();
  auto [it, inserted] = frame_slots_[b].try_emplace(frame, std::vector<int32_t>(static_cast<size_t>(tpf), -1));
  std::vector<int32_t>& slots = it->second;
  for (int64_t i = 0; i < tpf; ++i) {
    if (slots[i] < 0) {
      slots[i] = free_[b].back();
      free_[b].pop_back();
      ++used_[b];
    }
    TokenMeta& m = meta_[b][slots[i]];
    m.frame = frame;
    m.row = static_cast<int32_t>(i / config_.cols);
    m.col = static_cast<int32_t>(i % config_.cols);
    m.log_count = 0;  // a fresh write is one token again
    call_slots_[b].push_back(slots[i]);
  }
}

void KvStore::write_call(int64_t b, const float* k_raw, const float* k_rot, const float* v, int64_t tokens) {
  const std::vector<int32_t>& slots = call_slots_[b];
  const size_t n = std::min(slots.size(), static_cast<size_t>(tokens));
  if (n == 0) return;
  std::vector<int32_t> first;  // the slots of the first n tokens, when not all are written
  if (n < slots.size()) first.assign(slots.begin(), slots.begin() + static_cast<std::ptrdiff_t>(n));
  const std::vector<int32_t>& index = n < slots.size() ? first : slots;
  apply_merges(b);  // a slot merged into earlier may be written now
  BlockRows& r = rows_[b];
  const int64_t count = static_cast<int64_t>(n);
  ops::set_rows(r.k_raw, index, rows_at(k_raw, count));
  ops::set_rows(r.k_rot, index, rows_at(k_rot, count));
  ops::set_rows(r.v, index, rows_at(v, count));
}

std::vector<ops::KVSegment> KvStore::segments(int64_t b) const {
  return visible_segments(b, 0, call_start_ + call_frames_, config_.max_attention_tokens);
}

std::vector<ops::KVSegment> KvStore::frame_segments(int64_t b, int64_t first, int64_t last) const {
  return visible_segments(b, first, last, 0);
}

const std::vector<int32_t>* KvStore::frame_slots(int64_t b, int64_t frame) const {
  auto it = frame_slots_[b].find(frame);
  return it == frame_slots_[b].end() ? nullptr : &it->second;
}

std::vector<int32_t> KvStore::visible_slots(int64_t b, int64_t first, int64_t end, int64_t max_tokens) const {
  const std::vector<TokenMeta>& meta = meta_[b];
  const int64_t n = config_.budget_tokens;
  auto visible = [&](int64_t s) { return meta[s].used() && meta[s].frame >= first && meta[s].frame < end; };

  // The attention window: when more tokens are visible than it holds, the
  // oldest frames fall out of it (a frame that straddles the edge loses its
  // first tokens, as in the reference's token window).
  int64_t cutoff_frame = -1, cutoff_tokens = 0;  // frames < cutoff_frame hidden; of cutoff_frame, the first cutoff_tokens
  if (max_tokens > 0) {
    int64_t total = 0;
    for (int64_t s = 0; s < n; ++s) total += visible(s);
    if (total > max_tokens) {
      int64_t excess = total - max_tokens;
      std::map<int64_t, int64_t> per_frame;
      for (int64_t s = 0; s < n; ++s)
        if (visible(s)) ++per_frame[meta[s].frame];
      for (const auto& [frame, count] : per_frame) {
        if (excess >= count) {
          excess -= count;
          cutoff_frame = frame + 1;
          cutoff_tokens = 0;
        } else {
          cutoff_frame = frame;
          cutoff_tokens = excess;
          break;
        }
      }
    }
  }
  auto in_window = [&](int64_t s) {
    if (meta[s].frame > cutoff_frame) return true;
    if (meta[s].frame < cutoff_frame) return false;
    return meta[s].row * config_.cols + meta[s].col >= cutoff_tokens;
  };
  std::vector<int32_t> out;
  for (int64_t s = 0; s < n; ++s)
    if (visible(s) && in_window(s)) out.push_back(static_cast<int32_t>(s));
  return out;
}

std::vector<ops::KVSegment> KvStore::visible_segments(int64_t b, int64_t first, int64_t end,
                                                      int64_t max_tokens) const {
  const std::vector<int32_t> slots = visible_slots(b, first, end, max_tokens);
  const int64_t row = config_.row_floats();
  const float* k = rows(RowKind::KRot, b).f32();
  const float* v = rows(RowKind::V, b).f32();
  // Merged tokens carry their log count as an additive logit bias.
  const Tensor bias_rows = bias(b);
  const float* bias = bias_rows.defined() ? bias_rows.f32() : nullptr;
  // One segment per run of consecutive slots.
  std::vector<ops::KVSegment> out;
  for (size_t i = 0; i < slots.size();) {
    size_t e = i + 1;
    while (e < slots.size() && slots[e] == slots[e - 1] + 1) ++e;
    ops::KVSegment seg;
    seg.k = k + slots[i] * row;
    seg.v = v + slots[i] * row;
    seg.bias = bias ? bias + slots[i] : nullptr;
    seg.len = static_cast<int64_t>(e - i);
    out.push_back(seg);
    i = e;
  }
  return out;
}

Tensor KvStore::bias(int64_t b) const {
  if (!any_merged_) return Tensor();
  const std::vector<TokenMeta>& meta = meta_[b];
  BlockRows& r = rows_[b];
  bool changed = false;
  for (size_t i = 0; i < meta.size(); ++i)
    if (r.bias_values[i] != meta[i].log_count) {
      r.bias_values[i] = meta[i].log_count;
      changed = true;
    }
  // Copied only when a count changed: the tensor stays where attention (and
  // a recorded graph) reads it.
  if (changed) ops::copy(Tensor::from_floats(r.bias_values, {static_cast<int64_t>(meta.size())}), r.bias);
  return r.bias;
}

std::vector<float> KvStore::attention_mass(int64_t b, const float* q_rot, int64_t tokens, int64_t queries) const {
  const std::vector<int32_t> slots = visible_slots(b, 0, call_start_ + call_frames_, config_.max_attention_tokens);
  if (slots.empty()) return {};
  const float scale = 1.0f / std::sqrt(static_cast<float>(config_.head_dim));
  const std::vector<float> received =
      ops::attention_mass(rows_at(q_rot, tokens), rows(RowKind::KRot, b), slots, bias(b), queries, scale);
  std::vector<float> out(static_cast<size_t>(config_.budget_tokens), 0.0f);
  for (size_t j = 0; j < slots.size(); ++j) out[slots[j]] = received[j];
  return out;
}

void KvStore::query_sums(const float* q, int64_t tokens, std::vector<double>& sum, std::vector<double>& sum_sq) const {
  ops::query_sums(rows_at(q, tokens), sum, sum_sq);
}

ExpectedAttention KvStore::expected_attention(int64_t b, const ExpectedQuery& q, bool weight_by_value_norm,
                                              const std::vector<SlotPair>& pairs, float pair_cost_limit) const {
  ExpectedAttention out;
  const std::vector<TokenMeta>& meta = meta_[b];
  out.index.assign(meta.size(), -1);
  std::vector<int32_t> used;  // out.slots as row indices
  std::vector<float> log_count;
  for (size_t s = 0; s < meta.size(); ++s)
    if (meta[s].used()) {
      out.index[s] = static_cast<int32_t>(out.slots.size());
      out.slots.push_back(static_cast<int64_t>(s));
      used.push_back(static_cast<int32_t>(s));
      log_count.push_back(meta[s].log_count);
    }
  std::vector<ops::RowPair> at;  // positions in out.slots
  at.reserve(pairs.size());
  for (const SlotPair& p : pairs) {
    if (out.index[p.a] < 0 || out.index[p.b] < 0) throw Error("kv store: a pair names a free slot");
    at.push_back({out.index[p.a], out.index[p.b]});
  }
  ops::ExpectedScores scores = ops::expected_attention(rows(RowKind::KRot, b), rows(RowKind::V, b), used, log_count,
                                                       q, weight_by_value_norm, at, pair_cost_limit);
  out.attention = std::move(scores.attention);
  out.score = std::move(scores.score);
  out.pair_cost = std::move(scores.pair_cost);
  out.pair_cosine = std::move(scores.pair_cosine);
  return out;
}

void KvStore::gather_rows(int64_t b, RowKind kind, const std::vector<int32_t>& slots, float* out) const {
  Tensor to = rows_at(out, static_cast<int64_t>(slots.size()));
  ops::get_rows(rows(kind, b), slots, to);
}

void KvStore::observe(int64_t block, const float* q_raw, const float* q_rot, int64_t tokens) {
  const auto t0 = std::chrono::steady_clock::now();
  policy_->observe(*this, block, q_raw, q_rot, tokens, call_start_, call_update_);
  policy_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void KvStore::end_call() {
  if (call_update_) refresh_stats();
}

void KvStore::evict(int64_t b, int64_t slot) {
  TokenMeta& m = meta_[b][slot];
  if (!m.used()) return;
  auto it = frame_slots_[b].find(m.frame);
  if (it != frame_slots_[b].end()) {
    int32_t& entry = it->second[m.row * config_.cols + m.col];
    if (entry == slot) entry = -1;
    if (std::all_of(it->second.begin(), it->second.end(), [](int32_t s) { return s < 0; }))
      frame_slots_[b].erase(it);
  }
  auto& ev = evicted_[b];
  if (!ev.empty() && ev.back().first == m.frame) ++ev.back().second;
  else ev.emplace_back(m.frame, 1);
  m = TokenMeta{};
  free_[b].push_back(static_cast<int32_t>(slot));
  --used_[b];
}

void KvStore::merge(int64_t b, int64_t into, int64_t from, float w_into, float w_from) {
  TokenMeta& a = meta_[b][into];
  TokenMeta& c = meta_[b][from];
  if (!a.used() || !c.used() || into == from) return;
  const float total = w_into + w_from;
  const float wa = total > 0 ? w_into / total : 0.5f, wc = 1.0f - wa;
  rows_[b].merges.push_back({static_cast<int32_t>(into), static_cast<int32_t>(from), wa, wc});  // applied lazily
  // log(n_a + n_c) from the two log counts.
  const float hi = std::max(a.log_count, c.log_count), lo = std::min(a.log_count, c.log_count);
  const float log_count = hi + std::log1p(std::exp(lo - hi));
  merged_frames_[b].push_back(a.frame);
  merged_frames_[b].push_back(c.frame);
  // The survivor stays a token of its own frame; the other one's entry goes.
  const float keep_log = log_count;
  const int64_t other_frame = c.frame;
  auto it = frame_slots_[b].find(other_frame);
  if (it != frame_slots_[b].end()) {
    int32_t& entry = it->second[c.row * config_.cols + c.col];
    if (entry == from) entry = -1;
    if (std::all_of(it->second.begin(), it->second.end(), [](int32_t s) { return s < 0; }))
      frame_slots_[b].erase(it);
  }
  c = TokenMeta{};
  free_[b].push_back(static_cast<int32_t>(from));
  --used_[b];
  a.log_count = keep_log;
  any_merged_ = true;
}

int64_t KvStore::bytes_used() const {
  int64_t used = 0;
  for (int64_t u : used_) used += u;
  return used * n_bytes_per_token() * 3;
}

void KvStore::refresh_stats() {
  CacheStats s;
  s.policy = policy_->name();
  s.budget_tokens = config_.budget_tokens;
  s.tokens_per_frame = config_.tokens_per_frame();
  s.bytes_used = bytes_used();
  s.bytes_budget = 3 * n_bytes_per_token() * config_.budget_tokens * config_.blocks;
  s.policy_ms = policy_ms_;
  s.blocks = static_cast<int32_t>(config_.blocks);

  // Columns: every frame held by some block, plus the ones evicted this chunk.
  std::vector<int64_t> cols = frames();
  for (const auto& ev : evicted_)
    for (const auto& [frame, n] : ev) cols.push_back(frame);
  std::sort(cols.begin(), cols.end());
  cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
  s.frames = cols;
  s.slots.assign(static_cast<size_t>(config_.blocks) * cols.size(), SlotStats{});

  auto col_of = [&](int64_t frame) { return std::lower_bound(cols.begin(), cols.end(), frame) - cols.begin(); };
  for (int64_t b = 0; b < config_.blocks; ++b) {
    for (const TokenMeta& m : meta_[b])
      if (m.used()) ++s.slots[b * cols.size() + col_of(m.frame)].tokens;
    for (size_t c = 0; c < cols.size(); ++c) {
      SlotStats& st = s.slots[b * cols.size() + c];
      if (is_sink(cols[c])) st.kind = SlotKind::Sink;
      else if (st.tokens == 0) st.kind = SlotKind::Evicted;
      else st.kind = SlotKind::Kept;
    }
    for (int64_t frame : merged_frames_[b]) {
      SlotStats& st = s.slots[b * cols.size() + col_of(frame)];
      if (st.tokens > 0 && st.kind != SlotKind::Sink) st.kind = SlotKind::Merged;
    }
  }

  // Token scores of the last block, per cached frame, when the policy has them.
  std::vector<float> scores(static_cast<size_t>(config_.budget_tokens), NAN);
  const int64_t last = config_.blocks - 1;
  if (policy_->score(*this, last, scores)) {
    s.token_scores.resize(cols.size());
    for (size_t c = 0; c < cols.size(); ++c) {
      TokenScoreGrid& g = s.token_scores[c];
      g.rows = static_cast<int32_t>(config_.rows);
      g.cols = static_cast<int32_t>(config_.cols);
      g.scores.assign(static_cast<size_t>(config_.tokens_per_frame()), NAN);
    }
    for (int64_t slot = 0; slot < config_.budget_tokens; ++slot) {
      const TokenMeta& m = meta_[last][slot];
      if (m.used()) s.token_scores[col_of(m.frame)].scores[m.row * config_.cols + m.col] = scores[slot];
    }
  }
  stats_ = std::move(s);
  for (auto& ev : evicted_) ev.clear();
  for (auto& mf : merged_frames_) mf.clear();
  policy_ms_ = 0;
}

void KvStore::set_policy(std::unique_ptr<CachePolicy> policy) {
  if (!policy) throw Error("kv store: no cache policy");
  policy_ = std::move(policy);
  stats_.policy = policy_->name();
}

void KvStore::set_budget(int64_t budget) {
  if (budget < config_.tokens_per_frame())
    throw Error("kv store: a budget of " + std::to_string(budget) + " tokens holds less than one frame of " +
                std::to_string(config_.tokens_per_frame()));
  if (budget == config_.budget_tokens) return;
  // Make room with the policy first: nothing of a current call is protected
  // (between calls there is none), the sink is.
  for (int64_t b = 0; b < config_.blocks; ++b) {
    if (used_[b] <= budget) continue;
    RoomRequest req{b, used_[b] - budget, newest_frame_ + 1, sink_end()};
    policy_->make_room(*this, req);
    if (used_[b] > budget)
      throw Error("kv store: policy '" + policy_->name() + "' cannot fit block " + std::to_string(b) + " into " +
                  std::to_string(budget) + " tokens (the sink alone needs more)");
  }
  // Compact the kept tokens into arrays of the new size.
  const int64_t old_budget = config_.budget_tokens;
  std::vector<std::vector<int32_t>> keep(static_cast<size_t>(config_.blocks));  // [blocks][budget] old slot or -1
  for (int64_t b = 0; b < config_.blocks; ++b) {
    std::vector<TokenMeta> meta(static_cast<size_t>(budget));
    std::vector<int32_t> new_slot(static_cast<size_t>(old_budget), -1);
    keep[b].assign(static_cast<size_t>(budget), -1);
    int32_t next = 0;
    for (int64_t s = 0; s < old_budget; ++s) {
      if (!meta_[b][s].used()) continue;
      new_slot[s] = next;
      meta[next] = meta_[b][s];
      keep[b][next] = static_cast<int32_t>(s);
      ++next;
    }
    for (auto& [frame, slots] : frame_slots_[b])
      for (int32_t& s : slots)
        if (s >= 0) s = new_slot[s];
    meta_[b] = std::move(meta);
    free_[b].clear();
    for (int64_t s = budget - 1; s >= next; --s) free_[b].push_back(static_cast<int32_t>(s));
    call_slots_[b].clear();
  }
  // New slot s of block b takes old slot keep[b][s]; the rest are zero rows.
  for (int64_t b = 0; b < config_.blocks; ++b) {
    apply_merges(b);
    BlockRows& r = rows_[b];
    for (Tensor* t : {&r.k_raw, &r.k_rot, &r.v}) {
      Tensor next = ops::empty({budget, config_.heads, config_.head_dim}, config_.backend);
      ops::get_rows(*t, keep[b], next);
      *t = std::move(next);
    }
    r.bias = ops::zeros({budget}, config_.backend);
    r.bias_values.assign(static_cast<size_t>(budget), 0.0f);
  }
  config_.budget_tokens = budget;
  policy_->reset();  // its per-slot history no longer matches the compacted slots
  stats_.budget_tokens = budget;
  stats_.bytes_budget = 3 * n_bytes_per_token() * budget * config_.blocks;
}

}  // namespace wl::cache
