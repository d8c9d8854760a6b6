// WorldLoop's saved world states: what `play --save-state-at K FILE`, F5,
// `play --load FILE` and F8 write and read. A state is taken between chunks.
// When K falls inside the chunk just made, the frames of that chunk past K
// are saved with it (they are already made, so a loaded run shows them
// first), and the loaded run continues at the same session frame, so that
// action scripts and recorded inputs stay aligned.
//
// The loop's part (JSON "loop", tensor "loop.pending_rgb"): the session
// frame, world frame and chunk counters at the chunk boundary, the keys held,
// how far the script's prompts were applied, and the pending frames with the
// actions they were made with. The source writes the world's part.
#include <algorithm>

#include "app/loop/world_loop.h"
#include "app/record/frame_writer.h"
#include "runtime/core/error.h"

namespace wl::app {

namespace {

nlohmann::json actions_json(const FrameActions& a) {
  return {{"keys", a.keys}, {"mouse_dx", a.mouse_dx}, {"mouse_dy", a.mouse_dy}};
}

FrameActions actions_from(const StateReader& in, const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("keys") || !j["keys"].is_number_unsigned() || !j.contains("mouse_dx") ||
      !j["mouse_dx"].is_number() || !j.contains("mouse_dy") || !j["mouse_dy"].is_number() ||
      j["keys"].get<uint64_t>() > 0xffffffffu)
    in.fail(where + " is not a set of keys and mouse motion");
  FrameActions a;
  a.keys = j["keys"].get<uint32_t>();
  a.mouse_dx = j["mouse_dx"].get<float>();
  a.mouse_dy = j["mouse_dy"].get<float>();
  return a;
}

}  // namespace

int64_t WorldLoop::first_frame_of(const StateReader& in) {
  const int64_t seq = in.integer("loop/seq");
  const nlohmann::json& pending = in.at("loop/pending");
  if (!pending.is_array()) in.fail("the state's pending frames are not a list");
  return seq - static_cast<int64_t>(pending.size());
}

void WorldLoop::save_if_due() {
  if (!save_pending_ || seq_ < opt_.save_state_at) return;
  save_pending_ = false;
  save_state(opt_.save_state_path, opt_.save_state_at);
}

void WorldLoop::save_state(const std::string& path, int64_t from) {
  check_output_file(path, "the world state");
  StateWriter out;
  source_.save_state(out);
  const FrameFormat fmt = source_.format();
  std::vector<uint8_t> pending_rgb;
  nlohmann::json pending = nlohmann::json::array();
  from = std::max(from, last_chunk_.first_seq);
  if (from < seq_) {
    if (!last_chunk_.rgb)
      throw Error("the frames after frame " + std::to_string(from) +
                  " are on the GPU only; save at a chunk boundary (a multiple of " +
                  std::to_string(source_.chunk_frames()) + " frames) or record while saving");
    for (int64_t s = from; s < seq_; ++s) {
      const size_t j = static_cast<size_t>(s - last_chunk_.first_seq);
      const uint8_t* p = last_chunk_.rgb->data() + j * fmt.bytes();
      pending_rgb.insert(pending_rgb.end(), p, p + fmt.bytes());
      pending.push_back(actions_json(last_chunk_.actions[j]));
    }
  }
  nlohmann::json& j = out.json()["loop"];
  j = {{"seq", seq_},
       {"world_frame", world_frame_},
       {"chunk", chunk_},
       {"script_prompts_upto", script_prompts_upto_},
       {"last_actions", actions_json(last_actions_)},
       {"width", fmt.width},
       {"height", fmt.height},
       {"pending", pending}};
  out.u8("loop.pending_rgb", pending_rgb.data(), pending_rgb.size());  // [pending][H][W][3]
  out.write(path);
  std::lock_guard<std::mutex> lock(status_mu_);
  status_.saved_state = path;
  status_.notice = "saved the world after frame " + std::to_string(from) + " to " + path;
}

void WorldLoop::restore_state(const StateReader& in) {
  const bool initial = chunk_ == 0 && seq_ == 0;  // --load, before any chunk (F8 later keeps the session's frames)
  const FrameFormat fmt = source_.format();
  if (in.integer("loop/width") != fmt.width || in.integer("loop/height") != fmt.height)
    in.fail("the state's frames are " + std::to_string(in.integer("loop/width")) + "x" +
            std::to_string(in.integer("loop/height")) + ", this world's are " + std::to_string(fmt.width) + "x" +
            std::to_string(fmt.height));
  const int64_t seq = in.integer("loop/seq"), world_frame = in.integer("loop/world_frame");
  const int64_t chunk = in.integer("loop/chunk"), script_upto = in.integer("loop/script_prompts_upto");
  const int64_t first = first_frame_of(in);
  const nlohmann::json& pending = in.at("loop/pending");
  const int64_t p = static_cast<int64_t>(pending.size());
  if (seq < 0 || first < 0 || world_frame < p || chunk < 0 || script_upto < -1 ||
      p >= std::max(1, source_.chunk_frames()) + 1)
    in.fail("the state's frame counters are out of range");
  std::vector<FrameActions> pending_actions;
  for (int64_t i = 0; i < p; ++i)
    pending_actions.push_back(actions_from(in, pending[static_cast<size_t>(i)], "pending frame " + std::to_string(i)));
  const FrameActions last = actions_from(in, in.at("loop/last_actions"), "the held keys");
  auto rgb = std::make_shared<std::vector<uint8_t>>(in.u8("loop.pending_rgb", p * static_cast<int64_t>(fmt.bytes())));

  source_.load_state(in);  // refuses another world's state; nothing above changed the loop
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    prompt_ = std::make_shared<const std::string>(source_.prompt());
    status_.prompt = *prompt_;
    status_.seed = source_.seed();
  }
  last_actions_ = last;
  world_frame_ = world_frame - p;
  if (initial) {
    seq_ = first;
    chunk_ = chunk;
    script_prompts_upto_ = script_upto;
    if (opt_.max_frames >= 0) end_seq_ = seq_ + opt_.max_frames;
  }
  if (p == 0) return;

  // The saved chunk's frames past the save point, published as they were made.
  const int64_t publish = end_seq_ >= 0 ? std::min(p, end_seq_ - seq_) : p;
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / std::max(1.0, source_.nominal_fps())));
  const Clock::time_point now = Clock::now();
  auto stats = std::make_shared<const ChunkStats>();
  std::vector<Frame> frames;
  for (int64_t j = 0; j < publish; ++j) {
    Frame f;
    f.seq = seq_ + j;
    f.world_frame = world_frame_ + j;
    f.chunk = std::max<int64_t>(0, chunk_ - 1);
    f.format = fmt;
    f.rgb = rgb;
    f.offset = fmt.bytes() * static_cast<size_t>(j);
    f.stats = stats;
    f.prompt = prompt_;
    f.actions = pending_actions[static_cast<size_t>(j)];
    f.due = now + period * j;
    f.produced = now;
    frames.push_back(std::move(f));
  }
  last_chunk_ = {seq_, pending_actions, rgb};
  seq_ += p;
  world_frame_ += p;
  next_due_ = now + period * p;
  if (hook_) hook_(frames);
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    status_.frames_made += publish;
  }
  mailbox_.publish(std::move(frames));
}

}  // namespace wl::app
