// Rolling Forcing's position scheme over a KvStore (docs/model.md §4, its fixture is
// `rolling`): a window of chunks is denoised jointly; per call only the
// window's first chunk is (re)written into the cache; the video's first chunk
// is the attention sink, re-positioned just before the frames a window call
// sees, and attention never reaches back past `attention_frames` frames.
//
//   window call (first chunk not the video's first):
//       [sink re-RoPE'd as the `chunk` frames before the working cache, or
//        before the window when the working cache is empty]
//     + [working cache: the newest cached frames after the sink and before the
//        window, at most attention_frames - window frames - chunk]
//     + [the call's own tokens]
//   cache update (clean pass of the window's first chunk):
//       the last `attention_frames` cached frames up to its own slot, every
//       key at its absolute frame (the sink too, if in range)
//   any call whose first chunk is the video's first: its own tokens only.
//
// Works on a store of any backend: the sink is gathered (ops::get_rows) and
// re-RoPE'd (ops::rope_3d) where the store keeps its rows, and every segment
// is memory of that backend.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cache/kv_store.h"

namespace wl::cache {

class RollingWindowKv : public KvAccess {
 public:
  // The store's sink must be one chunk; its policy evicts the oldest non-sink chunk.
  RollingWindowKv(KvStore& store, int64_t chunk_frames, int64_t attention_frames);

  void check_layout(int64_t blocks, int64_t heads, int64_t head_dim, int64_t rows, int64_t cols) const override {
    store_.check_layout(blocks, heads, head_dim, rows, cols);
  }
  void begin_call(int64_t start_frame, int64_t frames, bool cache_update) override;
  void write_call(int64_t block, const float* k_raw, const float* k_rot, const float* v, int64_t tokens) override;
  std::vector<ops::KVSegment> segments(int64_t block, const float* k_rot, const float* v, int64_t tokens) override;
  void observe(int64_t block, const float* q_raw, const float* q_rot, int64_t tokens) override {
    store_.observe(block, q_raw, q_rot, tokens);
  }
  void end_call() override { store_.end_call(); }

  KvStore& store() { return store_; }

  // Saved world states: the video's first frame (the sink), under `prefix`.
  // The store saves and loads itself.
  void save_state(StateWriter& out, const std::string& prefix) const;
  void load_state(const StateReader& in, const std::string& prefix);

 private:
  // The sink's keys RoPE'd as frames [position, position + chunk), and its values.
  ops::KVSegment repositioned_sink(int64_t block, int64_t position);

  KvStore& store_;
  int64_t chunk_;
  int64_t attention_frames_;
  int64_t video_start_ = -1;  // first frame of the video: its chunk is the sink
  int64_t start_ = 0, frames_ = 0;
  bool update_ = false;
  Tensor sink_k_, sink_v_;  // scratch on the store's backend [chunk * tokens_per_frame, heads, head_dim]
};

}  // namespace wl::cache
