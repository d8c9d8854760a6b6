#include "app/sources/world_source.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>

#include <omp.h>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"

namespace wl::app {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

WorldSource::WorldSource(const WorldSourceOptions& options) : options_(options) {
  if (is_published_model_dir(options.dir)) {
    PublishedModelOptions p = options.published;
    p.dit = options.dit;
    p.allow_external_paths = options.allow_external_paths;
    std::vector<std::string> notes;
    world_ = open_published_model(options.dir, p, &notes);
    for (const std::string& n : notes) std::fprintf(stderr, "worldloop: %s: %s\n", options.dir.c_str(), n.c_str());
  } else {
    world_ = World::open(options.dir, options.dit, options.allow_external_paths);
  }
  // With the DiT on the CPU, the decoder thread's one core comes out of the
  // DiT's team (unless the team is fixed); with the DiT on CUDA, the decoder
  // has every core while the DiT runs on the device.
  const bool cpu = options.dit.backend == Backend::CPU;
  if (options.decode_overlap && world_->video_decoder())
    decode_worker_ = std::make_unique<DecodeWorker>(*world_->video_decoder(), cpu ? 1 : omp_get_max_threads());
  const int decoder_threads = decode_worker_ && cpu ? 1 : 0;
  const int team = std::max(1, omp_get_max_threads() - decoder_threads);
  if (options.adaptive_threads && cpu) governor_ = std::make_unique<CpuThreadGovernor>(team);
  else if (options.threads > 0) dit_threads_ = options.threads;
  else if (decoder_threads > 0) dit_threads_ = team;
  const WorldDescription& d = world_->description();
  reset(1, d.presets.empty() ? std::string() : d.presets.front());
}

std::string WorldSource::compute_description() const {
  const ops::MatmulPrecision p = world_->dit().precision();
  const char* beside = decode_worker_ ? ", decoding beside the DiT" : "";
  if (options_.dit.backend == Backend::CUDA) return std::string("CUDA, ") + ops::precision_name(p) + beside;
  std::string s = "CPU " + ops::describe_cpu(p) + ", " + std::to_string(omp_get_max_threads()) + " threads";
  if (governor_) {
    s += " (adaptive";
    if (governor_->others_cores() >= 0) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "; others use %.1f cores", governor_->others_cores());
      s += buf;
    }
    s += ")";
  }
  return s + beside;
}

FrameFormat WorldSource::format() const {
  return FrameFormat{world_->description().image_width, world_->description().image_height};
}

void WorldSource::reset(uint64_t seed, const std::string& prompt) {
  const WorldDescription& d = world_->description();
  WorldSessionOptions o;
  o.policy = options_.policy;
  o.budget_frames = options_.budget_frames;
  if (options_.primer && world_->encoder() && d.prime_frames > 0) {
    StartFrames start;
    start.rgb = options_.primer(seed, prompt, static_cast<int>(d.prime_frames), start.actions);
    start.actions.resize(static_cast<size_t>(d.prime_frames));
    session_ = std::make_unique<WorldSession>(*world_, o, seed, prompt, &start);
  } else {
    session_ = std::make_unique<WorldSession>(*world_, o, seed, prompt);  // the package's own start
  }
  drop_decode();
  if (LatentVideoDecoder* v = world_->video_decoder()) v->reset();  // a new stream: caches, memories, trim
  pending_rgb_.clear();
}

void WorldSource::set_prompt(const std::string& prompt) { session_->set_prompt(prompt); }

std::string WorldSource::set_cache(const std::string& policy, int64_t budget_frames) {
  const std::string err = session_->set_cache(policy, budget_frames);
  if (!err.empty()) return err;
  if (!policy.empty()) options_.policy = policy;  // a reset keeps the choice
  if (budget_frames > 0) options_.budget_frames = budget_frames;
  return "";
}

ChunkStats WorldSource::next_chunk(const ChunkRequest& request, std::vector<uint8_t>& rgb) {
  if (static_cast<int64_t>(request.actions.size()) != chunk_frames())
    throw Error("world source: asked for " + std::to_string(request.actions.size()) + " frames, chunks are " +
                std::to_string(chunk_frames()));
  if (governor_) governor_->update();
  else if (dit_threads_ > 0 && omp_get_max_threads() != dit_threads_) omp_set_num_threads(dit_threads_);
  if (LatentVideoDecoder* v = world_->video_decoder()) return next_video_chunk(*v, request, rgb);
  const Tensor z = session_->next_chunk(request.actions);
  const auto t0 = Clock::now();
  const FrameDecoder& decoder = world_->decoder();
  if (sink_) {
    const Tensor img = decoder.decode(z);  // [F, 3, H, W] on the device
    ops::synchronize(decoder.backend());   // decode_ms: the decoder's time, not its queueing
    device_frames_ = sink_->write(img);
    if (request.need_rgb) unit_rgb_to_rgb8(ops::to_backend(img, Backend::CPU), rgb);
    else rgb.clear();
  } else {
    decoder.decode_rgb8(z, rgb);
  }
  ChunkStats stats;
  stats.stages.denoise_ms = session_->last_timing().denoise_ms;
  stats.stages.cache_update_ms = session_->last_timing().cache_update_ms;
  stats.stages.decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  stats.cache = session_->store().stats();
  stats.threads = options_.dit.backend == Backend::CPU ? omp_get_max_threads() : 0;
  return stats;
}

// Denoises and decodes latent chunks until `request` can be served whole; the
// session gets the actions of each latent's first frame. Times add up over
// the chunks this call made.
ChunkStats WorldSource::next_video_chunk(LatentVideoDecoder& decoder, const ChunkRequest& request,
                                         std::vector<uint8_t>& rgb) {
  const WorldDescription& d = world_->description();
  const size_t frame_bytes = format().bytes(), want = request.actions.size() * frame_bytes;
  ChunkStats stats;
  std::vector<FrameActions> latent_actions(static_cast<size_t>(d.chunk));
  std::vector<uint8_t> decoded;
  while (pending_rgb_.size() < want) {
    for (size_t i = 0; i < latent_actions.size(); ++i)
      latent_actions[i] = request.actions[std::min(i * static_cast<size_t>(d.frames_per_latent), request.actions.size() - 1)];
    const Tensor z = session_->next_chunk(latent_actions);  // [chunk, 16, h, w]
    stats.stages.denoise_ms += session_->last_timing().denoise_ms;
    stats.stages.cache_update_ms += session_->last_timing().cache_update_ms;
    Tensor latents = ops::to_backend(z, Backend::CPU);  // [chunk, 16, h, w] on the CPU
    if (decode_worker_) {
      // The chunk before this one decoded while this one denoised; this one
      // decodes while the caller shows frames and the next call denoises.
      if (decode_worker_->busy()) take_decoded(&stats.stages);
      decode_worker_->start(std::move(latents));
      continue;
    }
    const auto t0 = Clock::now();
    unit_rgb_to_rgb8(decoder.push(latents), decoded);  // [F][H][W][3]
    pending_rgb_.insert(pending_rgb_.end(), decoded.begin(), decoded.end());
    stats.stages.decode_ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }
  rgb.assign(pending_rgb_.begin(), pending_rgb_.begin() + static_cast<std::ptrdiff_t>(want));
  pending_rgb_.erase(pending_rgb_.begin(), pending_rgb_.begin() + static_cast<std::ptrdiff_t>(want));
  stats.cache = session_->store().stats();
  stats.threads = options_.dit.backend == Backend::CPU ? omp_get_max_threads() : 0;
  return stats;
}

void WorldSource::take_decoded(StageTimes* stages) const {
  DecodeWorker::Result r = decode_worker_->wait();
  pending_rgb_.insert(pending_rgb_.end(), r.rgb.begin(), r.rgb.end());
  if (stages) {
    stages->decode_ms += r.decode_ms;
    stages->decode_hidden_ms += std::max(0.0, r.decode_ms - r.waited_ms);
  }
}

void WorldSource::drop_decode() {
  if (!decode_worker_ || !decode_worker_->busy()) return;
  try {
    decode_worker_->wait();
  } catch (const std::exception&) {
    // the stream it belonged to is being replaced
  }
}

void WorldSource::save_state(StateWriter& out) const {
  // The decode in flight finishes first: the decoder's stream and the
  // pending frames are then those of every latent the session has made.
  if (decode_worker_ && decode_worker_->busy()) take_decoded(nullptr);
  session_->save_state(out);
  // A pixel decoder's stream, and the frames it decoded past the last chunk.
  if (const LatentVideoDecoder* v = world_->video_decoder()) v->save_state(out, "decoder");
  out.json()["source"]["pending_rgb"] = pending_rgb_.size();
  if (!pending_rgb_.empty()) out.u8("source.pending_rgb", pending_rgb_.data(), pending_rgb_.size());
}

void WorldSource::load_state(const StateReader& in) {
  const bool saved_with_decoder = in.json().contains("decoder");
  if (world_->video_decoder() && !saved_with_decoder)
    in.fail("saved without a pixel decoder's stream; this world decodes with the " +
            world_->video_decoder()->describe());
  if (!world_->video_decoder() && saved_with_decoder)
    in.fail("saved with a pixel decoder's stream (" + in.string("decoder/kind") +
            "); this world has none (--decoder preview?)");
  // The decode in flight finishes into the pending frames first, so a load
  // that fails leaves this stream whole; a load that succeeds replaces both.
  if (decode_worker_ && decode_worker_->busy()) take_decoded(nullptr);
  std::unique_ptr<WorldSession> session = std::make_unique<WorldSession>(*world_, in);
  std::vector<uint8_t> pending;
  if (in.has("source.pending_rgb")) {
    pending = in.u8("source.pending_rgb");
    const size_t frame = format().bytes();
    if (frame == 0 || pending.size() % frame != 0)
      in.fail("source.pending_rgb: " + std::to_string(pending.size()) + " bytes are not whole frames of " +
              std::to_string(frame));
  }
  if (LatentVideoDecoder* v = world_->video_decoder()) v->load_state(in, "decoder");  // last: it replaces the stream
  session_ = std::move(session);
  pending_rgb_.assign(pending.begin(), pending.end());
}

void WorldSource::set_device_sink(DeviceFrameSink* sink) {
  const WorldDescription& d = world_->description();
  if (sink && !decodes_on_device()) throw Error("world source: the decoder runs on the CPU; it has no device path");
  if (sink && (sink->width() != d.image_width || sink->height() != d.image_height))
    throw Error("world source: a device frame sink of " + std::to_string(sink->width()) + "x" +
                std::to_string(sink->height()) + " for frames of " + std::to_string(d.image_width) + "x" +
                std::to_string(d.image_height));
  sink_ = sink;
  device_frames_.clear();
}

std::vector<DeviceFrameRef> WorldSource::take_device_frames() { return std::exchange(device_frames_, {}); }

}  // namespace wl::app
