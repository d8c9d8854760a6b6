#include "cache/kv_cache.h"

#include <algorithm>
#include <string>

#include "runtime/error.h"

namespace wl {

KvCache::KvCache(const KvCacheConfig& config) : config_(config) {
  if (config.blocks <= 0 || config.heads <= 0 || config.head_dim <= 0 || config.tokens_per_frame <= 0)
    throw Error("kv cache: blocks, heads, head_dim and tokens_per_frame must be positive");
  if (config.capacity_frames <= 0) throw Error("kv cache: capacity must be at least one frame");
  if (config.sink_frames < 0 || config.sink_frames >= config.capacity_frames)
    throw Error("kv cache: " + std::to_string(config.sink_frames) + " sink frames leave no room in a cache of " +
                std::to_string(config.capacity_frames) + " frames");
  const size_t n = static_cast<size_t>(config.blocks * config.capacity_frames * frame_floats());
  k_raw_.assign(n, 0.0f);
  k_rot_.assign(n, 0.0f);
  v_.assign(n, 0.0f);
  clear();
}

void KvCache::clear() {
  frames_.clear();
  frame_slot_.clear();
  evicted_.clear();
  free_slots_.clear();
  for (int64_t s = config_.capacity_frames - 1; s >= 0; --s) free_slots_.push_back(s);
}

int64_t KvCache::slot_of(int64_t frame) const {
  auto it = std::lower_bound(frames_.begin(), frames_.end(), frame);
  if (it == frames_.end() || *it != frame) return -1;
  return frame_slot_[it - frames_.begin()];
}

bool KvCache::has_frame(int64_t frame) const { return slot_of(frame) >= 0; }

std::vector<int64_t> KvCache::cached_frames() const { return frames_; }

void KvCache::begin_call(int64_t start, int64_t count) {
  evicted_.clear();
  if (count <= 0) throw Error("kv cache: a call needs at least one frame");
  if (count > config_.capacity_frames)
    throw Error("kv cache: a chunk of " + std::to_string(count) + " frames exceeds the capacity of " +
                std::to_string(config_.capacity_frames));
  const int64_t next = frames_.empty() ? start : frames_.back() + 1;
  if (start > next)
    throw Error("kv cache: call starts at frame " + std::to_string(start) + " but the newest cached frame is " +
                std::to_string(next - 1));
  for (int64_t f = start; f < std::min(next, start + count); ++f)
    if (slot_of(f) < 0)
      throw Error("kv cache: frame " + std::to_string(f) + " was evicted and cannot be written again");

  for (int64_t f = std::max(start, next); f < start + count; ++f) {
    if (free_slots_.empty()) {
      // Oldest non-sink frame: the sink is the first sink_frames frames ever cached.
      auto victim = std::find_if(frames_.begin(), frames_.end(),
                                 [&](int64_t g) { return g >= config_.sink_frames; });
      if (victim == frames_.end() || *victim >= start) throw Error("kv cache: a chunk of " + std::to_string(count) + " frames does not fit next to " +
                    std::to_string(config_.sink_frames) + " sink frames in " +
                    std::to_string(config_.capacity_frames) + " slots");
      const size_t i = victim - frames_.begin();
      free_slots_.push_back(frame_slot_[i]);
      evicted_.push_back(*victim);
      frames_.erase(frames_.begin() + i);
      frame_slot_.erase(frame_slot_.begin() + i);
    }
    frames_.push_back(f);
    frame_slot_.push_back(free_slots_.back());
    free_slots_.pop_back();
  }
}

float* KvCache::slot_ptr(const std::vector<float>& store, int64_t block, int64_t slot) const {
  return const_cast<float*>(store.data()) + (block * config_.capacity_frames + slot) * frame_floats();
}

namespace {
[[noreturn]] void not_cached(int64_t frame) {
  throw Error("kv cache: frame " + std::to_string(frame) + " is not cached");
}
}  // namespace

float* KvCache::k_raw(int64_t block, int64_t frame) {
  int64_t s = slot_of(frame);
  if (s < 0) not_cached(frame);
  return slot_ptr(k_raw_, block, s);
}

float* KvCache::k_rot(int64_t block, int64_t frame) {
  int64_t s = slot_of(frame);
  if (s < 0) not_cached(frame);
  return slot_ptr(k_rot_, block, s);
}

float* KvCache::v(int64_t block, int64_t frame) {
  int64_t s = slot_of(frame);
  if (s < 0) not_cached(frame);
  return slot_ptr(v_, block, s);
}

std::vector<ops::KVSegment> KvCache::segments(int64_t block, int64_t end_frame) const {
  std::vector<ops::KVSegment> out;
  const int64_t row = config_.heads * config_.head_dim;
  int64_t budget = config_.max_attention_tokens > 0 ? config_.max_attention_tokens : INT64_MAX;
  // Walk newest to oldest so the attention window trims the oldest tokens.
  for (size_t i = frames_.size(); i-- > 0 && budget > 0;) {
    if (frames_[i] >= end_frame) continue;
    const int64_t take = std::min(config_.tokens_per_frame, budget);
    const int64_t skip = config_.tokens_per_frame - take;
    ops::KVSegment seg;
    seg.k = slot_ptr(k_rot_, block, frame_slot_[i]) + skip * row;
    seg.v = slot_ptr(v_, block, frame_slot_[i]) + skip * row;
    seg.len = take;
    out.push_back(seg);
    budget -= take;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

int64_t KvCache::bytes() const {
  return static_cast<int64_t>((k_raw_.size() + k_rot_.size() + v_.size()) * sizeof(float));
}

}  // namespace wl
