#include "runtime/model/world_session.h"

#include <cmath>

#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "runtime/core/state_file.h"
#include "runtime/model/memory_plan.h"

namespace wl {

void WorldSession::build(const std::string& policy, int64_t budget) {
  const WorldDescription& d = world_.description();
  built_budget_ = budget;
  const cache::KvStoreConfig kv_config = world_.dit().cache_config(d.latent_height, d.latent_width, budget, d.sink_frames);
  // The cache and the activations, planned before they are allocated: within
  // --max-memory (weights included) and what the machine has free (the
  // weights are loaded already). A budget too large is refused with the numbers.
  const int64_t largest_call = d.mode == SamplerMode::Rolling ? d.chunk * static_cast<int64_t>(d.steps.size()) : d.chunk;
  check_memory_limits(plan_dit_memory(world_.dit().config(), world_.dit().precision(), kv_config,
                                      {largest_call, d.latent_height, d.latent_width}),
                      kv_config.backend, world_.max_memory_bytes(), "the cache budget (--budget-frames)",
                      {"weights", "prompt"});
  store_ = std::make_unique<cache::KvStore>(kv_config, cache::make_policy(policy));
  noise_ = std::make_unique<SeededNoise>(seed_);
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
    rolling_ = std::make_unique<cache::RollingWindowKv>(*store_, d.chunk,
                                                        d.attention_frames > 0 ? d.attention_frames : budget);
    kv = rolling_.get();
    s.recache_frames = 0;  // a prompt switch changes the cross-attention; the window re-denoises under it
  } else {
    // A prompt switch re-runs every cached frame but the sink and the chunk being made.
    s.recache_frames = budget - d.sink_frames - d.chunk;
  }
  sampler_ = std::make_unique<Sampler>(world_.dit(), *kv, *noise_, s);
}

WorldSession::WorldSession(World& world, const WorldSessionOptions& options, uint64_t seed,
                           const std::string& prompt, const StartFrames* start)
    : world_(world), seed_(seed), prompt_(prompt) {
  const WorldDescription& d = world.description();
  if (start && d.mode == SamplerMode::Rolling)
    throw Error(d.dir + ": a rolling-window model starts from noise; it takes no start frames");
  build(options.policy.empty() ? d.policy : options.policy,
        options.budget_frames > 0 ? options.budget_frames : d.budget_frames);
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

void WorldSession::set_prompt(const std::string& prompt) {
  sampler_->set_prompt(world_.prompt_context(prompt));
  prompt_ = prompt;
}

void WorldSession::save_state(StateWriter& out) const {
  nlohmann::json& j = out.json()["session"];
  j = {{"world", world_.identity()},
       {"world_name", world_.description().name},
       {"seed", std::to_string(seed_)},  // a string: JSON numbers lose 64-bit seeds
       {"prompt", prompt_},
       {"budget_frames", built_budget_},
       {"chunks_made", chunks_made_},
       {"primed", primed_}};
  store_->save_state(out, "kv");
  if (rolling_) rolling_->save_state(out, "rolling");
  sampler_->save_state(out, "sampler");
}

WorldSession::WorldSession(World& world, const StateReader& state) : world_(world) {
  const std::string identity = state.string("session/world");
  if (identity != world.identity())
    state.fail("this state was saved from world '" + state.string("session/world_name") + "' (identity " + identity +
               "); this is '" + world.description().name + "' (identity " + world.identity() +
               "); a state plays only in the world that saved it");
  const std::string seed = state.string("session/seed");
  try {
    size_t used = 0;
    seed_ = std::stoull(seed, &used);
    if (used != seed.size()) throw std::invalid_argument(seed);
  } catch (const std::exception&) {
    state.fail("the state's seed '" + seed + "' is not a number");
  }
  prompt_ = state.string("session/prompt");
  const int64_t budget = state.integer("session/budget_frames");
  const WorldDescription& d = world.description();
  if (budget < d.sink_frames + d.chunk || budget > kMaxBudgetFrames)
    state.fail("the state's cache budget of " + std::to_string(budget) + " frames is out of range for this world");
  chunks_made_ = state.integer("session/chunks_made");
  if (chunks_made_ < 0) state.fail("the state's chunk count is negative");
  primed_ = state.boolean("session/primed");
  build(d.policy, budget);
  store_->load_state(state, "kv");
  if (rolling_) rolling_->load_state(state, "rolling");
  sampler_->load_state(state, "sampler");
}

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
  world_.dit().clear_nonfinite_block();
  Tensor z = sampler_->next_chunk(action_tensor(actions.data(), actions.size()));
  ++chunks_made_;
  // One pass over the chunk's latents (they are small): a NaN or Inf here
  // would otherwise play as black frames with no error.
  const Tensor host = z.backend() == Backend::CPU ? z : ops::to_backend(z, Backend::CPU);
  const int64_t block = world_.dit().nonfinite_block();
  if (!host.all_finite() || block >= 0)
    throw Error(world_.description().dir + ": the model produced NaN or Inf latents at chunk " +
                std::to_string(chunks_made_ - 1) + " (frames " + std::to_string((chunks_made_ - 1) * d.chunk) + ".." +
                std::to_string(chunks_made_ * d.chunk - 1) + ")" +
                (block >= 0 ? ", first in the output of block " + std::to_string(block) : std::string()) +
                "; the world stops");
  if (d.latent_scale != 1.0f) {
    z = host;  // the latents are small; the decoder uploads them
    for (int64_t i = 0; i < z.numel(); ++i) z.f32()[i] /= d.latent_scale;
  }
  return z;
}

}  // namespace wl
