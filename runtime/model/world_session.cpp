#include "runtime/model/world_session.h"

#include <cmath>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"

namespace wl {

WorldSession::WorldSession(World& world, const WorldSessionOptions& options, uint64_t seed,
                           const std::string& prompt, const StartFrames* start)
    : world_(world) {
  const WorldDescription& d = world.description();
  const std::string policy = options.policy.empty() ? d.policy : options.policy;
  const int64_t budget = options.budget_frames > 0 ? options.budget_frames : d.budget_frames;
  store_ = std::make_unique<cache::KvStore>(
      world.dit().cache_config(d.latent_height, d.latent_width, budget, d.sink_frames), cache::make_policy(policy));
  noise_ = std::make_unique<SeededNoise>(seed);
  SamplerSettings s;
  s.steps = d.steps;
  s.shift = d.shift;
  s.chunk = d.chunk;
  s.context_noise = d.context_noise;
  s.height = d.latent_height;
  s.width = d.latent_width;
  s.sink_frames = d.sink_frames;
  s.mode = d.mode;
  cache::KvAccess* kv = store_.get();
  if (d.mode == SamplerMode::Rolling) {
    if (start) throw Error(d.dir + ": a rolling-window model starts from noise; it takes no start frames");
    rolling_ = std::make_unique<cache::RollingWindowKv>(*store_, d.chunk,
                                                        d.attention_frames > 0 ? d.attention_frames : budget);
    kv = rolling_.get();
    s.recache_frames = 0;  // a prompt switch changes the cross-attention; the window re-denoises under it
  } else {
    // A prompt switch re-runs every cached frame but the sink and the chunk being made.
    s.recache_frames = budget - d.sink_frames - d.chunk;
  }
  sampler_ = std::make_unique<Sampler>(world.dit(), *kv, *noise_, s);
  sampler_->set_prompt(world.prompt_context(prompt));

  if (start) {
    if (!world.encoder()) throw Error(d.dir + ": start frames were given but the package has no encoder");
    const int64_t n = static_cast<int64_t>(start->actions.size());
    const size_t bytes = static_cast<size_t>(n) * d.image_height * d.image_width * 3;
    if (n == 0 || start->rgb.size() != bytes)
      throw Error(d.dir + ": start frames hold " + std::to_string(start->rgb.size()) + " bytes for " +
                  std::to_string(n) + " frames of " + std::to_string(d.image_width) + "x" +
                  std::to_string(d.image_height));
    Tensor z = world.encoder()->encode_rgb8(start->rgb.data(), n, d.image_height, d.image_width);
    for (int64_t i = 0; i < z.numel(); ++i) z.f32()[i] *= d.latent_scale;
    sampler_->prime(z, action_tensor(start->actions.data(), start->actions.size()));
    primed_ = true;
    return;
  }
  switch (d.start) {
    case StartFrom::Noise: break;
    case StartFrom::Clip: {
      const StartEntry& e = world.start_clip()->for_prompt(prompt);
      sampler_->prime(e.latents, e.actions);
      primed_ = true;
      break;
    }
    case StartFrom::Image:
      throw Error(d.dir + "/world.json: this world starts from an image (start.from \"image\") and none was given");
  }
}

void WorldSession::set_prompt(const std::string& prompt) { sampler_->set_prompt(world_.prompt_context(prompt)); }

std::string WorldSession::set_cache(const std::string& policy, int64_t budget_frames) {
  const WorldDescription& d = world_.description();
  if (budget_frames > 0 && budget_frames < d.sink_frames + d.chunk)
    return "a budget of " + std::to_string(budget_frames) + " frames cannot hold " + std::to_string(d.sink_frames) +
           " sink frames and a chunk of " + std::to_string(d.chunk);
  try {
    if (!policy.empty()) store_->set_policy(cache::make_policy(policy));
    if (budget_frames > 0) store_->set_budget(budget_frames * store_->config().tokens_per_frame());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Tensor WorldSession::action_tensor(const FrameActions* actions, size_t n) const {
  const std::vector<uint32_t>& bits = world_.action_bits();
  if (bits.empty()) return Tensor();  // a model without an action embedding (text-to-video) takes none
  Tensor a = Tensor::zeros({static_cast<int64_t>(n), static_cast<int64_t>(bits.size())});
  for (size_t f = 0; f < n; ++f)
    for (size_t i = 0; i < bits.size(); ++i) a.f32()[f * bits.size() + i] = (actions[f].keys & bits[i]) ? 1.0f : 0.0f;
  return a;
}

Tensor WorldSession::next_chunk(std::span<const FrameActions> actions) {
  const WorldDescription& d = world_.description();
  if (static_cast<int64_t>(actions.size()) != d.chunk)
    throw Error("world source: asked for " + std::to_string(actions.size()) + " frames, chunks are " +
                std::to_string(d.chunk));
  Tensor z = sampler_->next_chunk(action_tensor(actions.data(), actions.size()));
  ++chunks_made_;
  // One pass over the chunk's latents (they are small): a NaN or Inf here
  // would otherwise play as black frames with no error.
  const Tensor host = z.backend() == Backend::CPU ? z : ops::to_backend(z, Backend::CPU);
  bool finite = true;
  for (int64_t i = 0; i < host.numel(); ++i) finite &= std::isfinite(host.f32()[i]);
  if (!finite)
    throw Error(world_.description().dir + ": the model produced NaN or Inf latents at chunk " +
                std::to_string(chunks_made_ - 1) + " (frames " + std::to_string((chunks_made_ - 1) * d.chunk) + ".." +
                std::to_string(chunks_made_ * d.chunk - 1) + "); the world stops");
  if (d.latent_scale != 1.0f) {
    z = host;  // the latents are small; the decoder uploads them
    for (int64_t i = 0; i < z.numel(); ++i) z.f32()[i] /= d.latent_scale;
  }
  return z;
}

}  // namespace wl
