#include "cache/rolling_window_kv.h"

#include <algorithm>
#include <string>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "runtime/core/state_file.h"

namespace wl::cache {

RollingWindowKv::RollingWindowKv(KvStore& store, int64_t chunk_frames, int64_t attention_frames)
    : store_(store), chunk_(chunk_frames), attention_frames_(attention_frames) {
  if (chunk_frames <= 0) throw Error("rolling cache: chunk must be at least one frame");
  if (store.config().sink_frames != chunk_frames)
    throw Error("rolling cache: the sink must be one chunk (" + std::to_string(chunk_frames) + " frames), store has " +
                std::to_string(store.config().sink_frames));
  if (attention_frames < chunk_frames)
    throw Error("rolling cache: attention window of " + std::to_string(attention_frames) +
                " frames is smaller than a chunk");
}

void RollingWindowKv::begin_call(int64_t start, int64_t frames, bool cache_update) {
  if (frames % chunk_) throw Error("rolling cache: a call of " + std::to_string(frames) + " frames is not whole chunks");
  if (video_start_ < 0) video_start_ = start;
  start_ = start;
  frames_ = frames;
  update_ = cache_update;
  // Only the window's first chunk has a slot.
  store_.begin_call(start, chunk_, cache_update);
}

void RollingWindowKv::write_call(int64_t block, const float* k_raw, const float* k_rot, const float* v,
                                 int64_t tokens) {
  store_.write_call(block, k_raw, k_rot, v, std::min(tokens, chunk_ * store_.config().tokens_per_frame()));
}

ops::KVSegment RollingWindowKv::repositioned_sink(int64_t block, int64_t position) {
  const KvStoreConfig& c = store_.config();
  const int64_t tpf = c.tokens_per_frame();
  std::vector<int32_t> slots;  // the sink's tokens in order
  slots.reserve(static_cast<size_t>(chunk_ * tpf));
  for (int64_t f = 0; f < chunk_; ++f) {
    const std::vector<int32_t>* frame = store_.frame_slots(block, video_start_ + f);
    if (!frame) throw Error("rolling cache: sink frame " + std::to_string(video_start_ + f) + " is not cached");
    for (int32_t s : *frame) {
      if (s < 0) throw Error("rolling cache: a token of sink frame " + std::to_string(video_start_ + f) + " is gone");
      slots.push_back(s);
    }
  }
  const Shape shape{chunk_ * tpf, c.heads, c.head_dim};
  if (!sink_k_.defined() || sink_k_.shape() != shape || sink_k_.backend() != c.backend) {
    sink_k_ = ops::empty(shape, c.backend);
    sink_v_ = ops::empty(shape, c.backend);
  }
  store_.gather_rows(block, RowKind::KRaw, slots, sink_k_.f32());
  store_.gather_rows(block, RowKind::V, slots, sink_v_.f32());
  ops::rope_3d(sink_k_, position, chunk_, c.rows, c.cols);
  return ops::KVSegment{sink_k_.f32(), sink_v_.f32(), nullptr, chunk_ * tpf};
}

std::vector<ops::KVSegment> RollingWindowKv::segments(int64_t block, const float* k_rot, const float* v,
                                                      int64_t tokens) {
  const ops::KVSegment own{k_rot, v, nullptr, tokens};
  if (start_ == video_start_) return {own};  // the window starts with the sink itself

  // Cached frames before the call's end, oldest first (the store holds whole frames here).
  std::vector<int64_t> cached = store_.frames();
  if (update_) {
    // The last attention_frames cached frames up to the call's own slot.
    std::vector<int64_t> upto;
    for (int64_t f : cached)
      if (f < start_ + chunk_) upto.push_back(f);
    const size_t keep = std::min<size_t>(upto.size(), static_cast<size_t>(attention_frames_));
    const int64_t first = upto.empty() ? start_ : upto[upto.size() - keep];
    return store_.frame_segments(block, first, start_ + chunk_);
  }

  // Window call: sink + working cache + own tokens.
  const int64_t sink_end = video_start_ + chunk_;
  const int64_t room = std::max<int64_t>(0, attention_frames_ - frames_ - chunk_);
  std::vector<int64_t> working;
  for (int64_t f : cached)
    if (f >= sink_end && f < start_) working.push_back(f);
  if (static_cast<int64_t>(working.size()) > room) working.erase(working.begin(), working.end() - room);

  std::vector<ops::KVSegment> out;
  const int64_t sink_position = (working.empty() ? start_ : working.front()) - chunk_;
  out.push_back(repositioned_sink(block, sink_position));
  if (!working.empty()) {
    std::vector<ops::KVSegment> w = store_.frame_segments(block, working.front(), working.back() + 1);
    out.insert(out.end(), w.begin(), w.end());
  }
  out.push_back(own);
  return out;
}

void RollingWindowKv::save_state(StateWriter& out, const std::string& prefix) const {
  out.json()[prefix] = {{"video_start", video_start_}, {"chunk", chunk_}, {"attention_frames", attention_frames_}};
}

void RollingWindowKv::load_state(const StateReader& in, const std::string& prefix) {
  if (in.integer(prefix + "/chunk") != chunk_ || in.integer(prefix + "/attention_frames") != attention_frames_)
    in.fail("the state's rolling window has other chunk or attention sizes than this world's");
  const int64_t start = in.integer(prefix + "/video_start");
  if (start < -1) in.fail("the state's rolling window starts at frame " + std::to_string(start));
  video_start_ = start;
}

}  // namespace wl::cache
