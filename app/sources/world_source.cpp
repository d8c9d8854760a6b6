#include "app/sources/world_source.h"

#include <chrono>
#include <cstdio>
#include <utility>

#include <omp.h>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"

namespace wl::app {
namespace {

using Clock = std::chrono::steady_clock;

// world.json action names -> the app's key bits.
uint32_t bit_for_world_action(const std::string& name) {
  if (name == "W") return kActForward;
  if (name == "S") return kActBack;
  if (name == "A") return kActLeft;
  if (name == "D") return kActRight;
  if (name == "up") return kActLookUp;
  if (name == "down") return kActLookDown;
  if (name == "left") return kActLookLeft;
  if (name == "right") return kActLookRight;
  return 0;
}

}  // namespace

WorldSource::WorldSource(const WorldSourceOptions& options) : options_(options) {
  world_ = World::open(options.dir, options.dit);
  if (options.adaptive_threads && options.dit.backend == Backend::CPU) governor_ = std::make_unique<CpuThreadGovernor>();
  const WorldDescription& d = world_->description();
  for (const std::string& a : d.actions) {
    const uint32_t bit = bit_for_world_action(a);
    if (!bit) throw Error(d.dir + "/world.json: unknown action '" + a + "' (known: W A S D up down left right)");
    action_bits_.push_back(bit);
  }
  reset(1, d.presets.empty() ? std::string() : d.presets.front());
}

std::string WorldSource::compute_description() const {
  const ops::MatmulPrecision p = world_->dit().precision();
  if (options_.dit.backend == Backend::CUDA) return std::string("CUDA, ") + ops::precision_name(p);
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
  return s;
}

FrameFormat WorldSource::format() const {
  return FrameFormat{world_->description().image_width, world_->description().image_height};
}

Tensor WorldSource::action_tensor(const FrameActions* actions, size_t n) const {
  Tensor a = Tensor::zeros({static_cast<int64_t>(n), static_cast<int64_t>(action_bits_.size())});
  for (size_t f = 0; f < n; ++f)
    for (size_t i = 0; i < action_bits_.size(); ++i)
      a.f32()[f * action_bits_.size() + i] = (actions[f].keys & action_bits_[i]) ? 1.0f : 0.0f;
  return a;
}

void WorldSource::reset(uint64_t seed, const std::string& prompt) {
  const WorldDescription& d = world_->description();
  const std::string policy = options_.policy.empty() ? d.policy : options_.policy;
  const int64_t budget = options_.budget_frames > 0 ? options_.budget_frames : d.budget_frames;
  store_ = std::make_unique<cache::KvStore>(
      world_->dit().cache_config(d.latent_height, d.latent_width, budget, d.sink_frames), cache::make_policy(policy));
  noise_ = std::make_unique<SeededNoise>(seed);
  SamplerSettings s;
  s.steps = d.steps;
  s.shift = d.shift;
  s.chunk = d.chunk;
  s.context_noise = d.context_noise;
  s.height = d.latent_height;
  s.width = d.latent_width;
  s.sink_frames = d.sink_frames;
  s.recache_frames = budget - d.sink_frames - d.chunk;
  sampler_ = std::make_unique<Sampler>(world_->dit(), *store_, *noise_, s);
  sampler_->set_prompt(world_->prompt_context(prompt));

  if (options_.primer && world_->encoder() && d.prime_frames > 0) {
    std::vector<FrameActions> actions;
    const std::vector<uint8_t> rgb = options_.primer(seed, prompt, static_cast<int>(d.prime_frames), actions);
    Tensor z = world_->encoder()->encode_rgb8(rgb.data(), d.prime_frames, d.image_height, d.image_width);
    for (int64_t i = 0; i < z.numel(); ++i) z.f32()[i] *= d.latent_scale;
    actions.resize(static_cast<size_t>(d.prime_frames));
    sampler_->prime(z, action_tensor(actions.data(), actions.size()));
  }
}

void WorldSource::set_prompt(const std::string& prompt) { sampler_->set_prompt(world_->prompt_context(prompt)); }

std::string WorldSource::set_cache(const std::string& policy, int64_t budget_frames) {
  const WorldDescription& d = world_->description();
  if (budget_frames > 0 && budget_frames < d.sink_frames + d.chunk)
    return "a budget of " + std::to_string(budget_frames) + " frames cannot hold " + std::to_string(d.sink_frames) +
           " sink frames and a chunk of " + std::to_string(d.chunk);
  try {
    if (!policy.empty()) store_->set_policy(cache::make_policy(policy));
    if (budget_frames > 0) store_->set_budget(budget_frames * store_->config().tokens_per_frame());
  } catch (const Error& e) {
    return e.what();
  }
  if (!policy.empty()) options_.policy = policy;  // a reset keeps the choice
  if (budget_frames > 0) options_.budget_frames = budget_frames;
  return "";
}

ChunkStats WorldSource::next_chunk(const ChunkRequest& request, std::vector<uint8_t>& rgb) {
  const WorldDescription& d = world_->description();
  if (static_cast<int64_t>(request.actions.size()) != d.chunk)
    throw Error("world source: asked for " + std::to_string(request.actions.size()) + " frames, chunks are " +
                std::to_string(d.chunk));
  if (governor_) governor_->update();
  else if (options_.threads > 0 && omp_get_max_threads() != options_.threads) omp_set_num_threads(options_.threads);
  Tensor z = sampler_->next_chunk(action_tensor(request.actions.data(), request.actions.size()));
  const auto t0 = Clock::now();
  if (d.latent_scale != 1.0f) {
    z = ops::to_backend(z, Backend::CPU);  // the latents are small; the decoder uploads them
    for (int64_t i = 0; i < z.numel(); ++i) z.f32()[i] /= d.latent_scale;
  }
  const ImageDecoder& decoder = world_->decoder();
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
  stats.stages.denoise_ms = sampler_->last_timing().denoise_ms;
  stats.stages.cache_update_ms = sampler_->last_timing().cache_update_ms;
  stats.stages.decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  stats.cache = store_->stats();
  stats.threads = options_.dit.backend == Backend::CPU ? omp_get_max_threads() : 0;
  return stats;
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
