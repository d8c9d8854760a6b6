#include "runtime/model/sampler.h"

#include <chrono>
#include <cstring>

#include "runtime/core/error.h"

namespace wl {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// (1 - sigma) * x0 + sigma * eps, elementwise.
Tensor renoise(const Tensor& x0, const Tensor& eps, float sigma) {
  Tensor out = Tensor::empty(x0.shape());
  const float* a = x0.f32();
  const float* e = eps.f32();
  float* o = out.f32();
  for (int64_t i = 0; i < x0.numel(); ++i) o[i] = (1.0f - sigma) * a[i] + sigma * e[i];
  return out;
}

}  // namespace

Sampler::Sampler(CausalDit& model, cache::KvAccess& cache, NoiseSource& noise, const SamplerSettings& settings)
    : model_(model), cache_(cache), noise_(noise), settings_(settings), schedule_(settings.steps, settings.shift) {
  const DitConfig& c = model.config();
  if (settings.chunk <= 0) throw Error("sampler: chunk must be at least one frame");
  if (settings.height <= 0 || settings.width <= 0 || settings.height % c.patch_h || settings.width % c.patch_w)
    throw Error("sampler: latent size " + std::to_string(settings.height) + "x" + std::to_string(settings.width) +
                " is not a positive multiple of the patch " + std::to_string(c.patch_h) + "x" +
                std::to_string(c.patch_w));
  if (settings.recache_frames < 0) throw Error("sampler: negative re-cache frames");
}

Shape Sampler::chunk_shape() const {
  // The noisy state: out_dim channels (MG2's in_dim adds its cond_concat).
  return {settings_.chunk, model_.config().out_dim, settings_.height, settings_.width};
}

bool Sampler::finished() const {
  return settings_.mode == SamplerMode::Rolling && settings_.total_chunks > 0 &&
         chunks_done_ >= settings_.total_chunks;
}

void Sampler::set_prompt(const Tensor& context) {
  model_.set_prompt(context);
  context_ = context;
  recached_.clear();
  if (started_) recache();
}

Tensor Sampler::next_chunk(const Tensor& actions) {
  if (!model_.has_prompt()) throw Error("sampler: no prompt set");
  if (finished()) throw Error("sampler: the video's " + std::to_string(settings_.total_chunks) + " chunks are done");
  if (actions.defined() && (actions.rank() != 2 || actions.dim(0) != settings_.chunk))
    throw Error("sampler: actions have shape " + shape_str(actions.shape()) + ", expected [" +
                std::to_string(settings_.chunk) + ", action_dim]");
  started_ = true;
  timing_ = {};
  Tensor out = settings_.mode == SamplerMode::Chunk ? next_chunk_wise(actions) : next_rolling(actions);
  ++chunks_done_;
  return out;
}

void Sampler::prime(const Tensor& latents, const Tensor& actions) {
  if (started_) throw Error("sampler: prime() must come before the first chunk");
  if (settings_.mode != SamplerMode::Chunk) throw Error("sampler: priming is for chunk mode");
  if (!model_.has_prompt()) throw Error("sampler: no prompt set");
  const Shape one = chunk_shape();
  if (latents.rank() != 4 || latents.dim(0) % settings_.chunk || latents.dim(1) != one[1] ||
      latents.dim(2) != one[2] || latents.dim(3) != one[3])
    throw Error("sampler: priming latents have shape " + shape_str(latents.shape()) + ", expected whole chunks of " +
                shape_str(one));
  const int64_t chunks = latents.dim(0) / settings_.chunk;
  const int64_t per_chunk = shape_numel(one);
  for (int64_t c = 0; c < chunks; ++c) {
    Tensor x0 = Tensor::empty(one);
    std::memcpy(x0.f32(), latents.to(DType::F32).f32() + c * per_chunk, per_chunk * sizeof(float));
    Tensor a;
    if (actions.defined()) {
      const int64_t width = actions.dim(1);
      a = Tensor::empty({settings_.chunk, width});
      std::memcpy(a.f32(), actions.to(DType::F32).f32() + c * settings_.chunk * width,
                  settings_.chunk * width * sizeof(float));
    }
    clean_pass(x0, chunks_done_, chunks_done_ * settings_.chunk, a);
    remember_clean(chunks_done_, x0, a);
    ++chunks_done_;
  }
  started_ = true;
}

void Sampler::set_image_condition(const Tensor& cond_concat) {
  const DitConfig& c = model_.config();
  if (cond_concat.rank() != 4 || cond_concat.dim(1) != c.in_dim - c.out_dim || cond_concat.dim(2) != settings_.height ||
      cond_concat.dim(3) != settings_.width)
    throw Error("sampler: cond_concat has shape " + shape_str(cond_concat.shape()) + ", expected [F, " +
                std::to_string(c.in_dim - c.out_dim) + ", " + std::to_string(settings_.height) + ", " +
                std::to_string(settings_.width) + "] for a model of " + std::to_string(c.in_dim) + " input channels");
  cond_concat_ = cond_concat.to(DType::F32);
}

void Sampler::set_pixel_actions(const Tensor& keyboard, const Tensor& mouse) {
  pixel_actions_.keyboard = keyboard.defined() ? keyboard.to(DType::F32) : Tensor();
  pixel_actions_.mouse = mouse.defined() ? mouse.to(DType::F32) : Tensor();
}

Tensor Sampler::call_model(const Tensor& x, const std::vector<float>& t, int64_t start, bool cache_update,
                          const Tensor& actions) {
  if (observer_) observer_(start, t, cache_update);
  const DitConfig& c = model_.config();
  if (c.in_dim == c.out_dim)
    return model_.forward(x, t, start, cache_, cache_update, actions,
                          pixel_actions_.keyboard.defined() ? &pixel_actions_ : nullptr);
  // MG2: the call's latents [f, 16, H, W], then cond_concat[start:start+f] [f, Cc, H, W].
  if (!cond_concat_.defined())
    throw Error("sampler: this model takes " + std::to_string(c.in_dim) + " input channels; give its cond_concat "
                "(set_image_condition)");
  const int64_t f = x.dim(0), cx = x.dim(1), cc = cond_concat_.dim(1), plane = x.dim(2) * x.dim(3);
  if (start + f > cond_concat_.dim(0))
    throw Error("sampler: cond_concat holds " + std::to_string(cond_concat_.dim(0)) + " latent frames; frame " +
                std::to_string(start + f - 1) + " needs more");
  Tensor in = Tensor::empty({f, cx + cc, x.dim(2), x.dim(3)});  // [f, 16 + Cc, H, W]
  for (int64_t i = 0; i < f; ++i) {
    std::copy_n(x.f32() + i * cx * plane, cx * plane, in.f32() + i * (cx + cc) * plane);
    std::copy_n(cond_concat_.f32() + (start + i) * cc * plane, cc * plane, in.f32() + (i * (cx + cc) + cx) * plane);
  }
  return model_.forward(in, t, start, cache_, cache_update, actions,
                        pixel_actions_.keyboard.defined() ? &pixel_actions_ : nullptr);
}

Tensor Sampler::denoise(const Tensor& x, const std::vector<float>& t, int64_t start, bool cache_update,
                        const Tensor& actions) {
  Tensor v = call_model(x, t, start, cache_update, actions);     // [f, C, H, W]
  Tensor x0 = Tensor::empty(x.shape());                          // [f, C, H, W]
  const int64_t per_frame = x.numel() / x.dim(0);
  for (int64_t f = 0; f < x.dim(0); ++f) {
    const float sigma = t[f] / 1000.0f;
    const float* xs = x.f32() + f * per_frame;
    const float* vs = v.f32() + f * per_frame;
    float* o = x0.f32() + f * per_frame;
    for (int64_t i = 0; i < per_frame; ++i) o[i] = xs[i] - sigma * vs[i];
  }
  return x0;
}

void Sampler::clean_pass(const Tensor& x0, int64_t chunk_index, int64_t start, const Tensor& actions) {
  const auto t0 = Clock::now();
  const float tc = settings_.context_noise;
  Tensor x = tc > 0 ? renoise(x0, noise_.context(chunk_index, x0.shape()), tc / 1000.0f) : x0;
  call_model(x, std::vector<float>(static_cast<size_t>(x.dim(0)), tc), start, true, actions);
  timing_.cache_update_ms += ms_since(t0);
}

void Sampler::remember_clean(int64_t chunk_index, const Tensor& x0, const Tensor& actions) {
  if (settings_.recache_frames <= 0) return;
  clean_[chunk_index] = Clean{x0, actions};
  const int64_t keep = (settings_.recache_frames + settings_.chunk - 1) / settings_.chunk;
  while (static_cast<int64_t>(clean_.size()) > keep) clean_.erase(clean_.begin());
}

Tensor Sampler::next_chunk_wise(const Tensor& actions) {
  const int64_t c = chunks_done_;
  const int64_t start = c * settings_.chunk;
  const Shape shape = chunk_shape();
  Tensor x = noise_.initial(start, shape);  // [chunk, C, H, W]
  Tensor x0;
  const auto t0 = Clock::now();
  for (size_t i = 0; i < schedule_.size(); ++i) {
    x0 = denoise(x, std::vector<float>(static_cast<size_t>(settings_.chunk), schedule_.timestep(i)), start, false,
                 actions);
    if (i + 1 < schedule_.size())
      x = renoise(x0, noise_.step(c, static_cast<int64_t>(i), shape), schedule_.sigma(i + 1));
  }
  timing_.denoise_ms = ms_since(t0);
  clean_pass(x0, c, start, actions);
  remember_clean(c, x0, actions);
  return x0;
}

Tensor Sampler::next_rolling(const Tensor& actions) {
  const size_t levels = schedule_.size();
  const Shape shape = chunk_shape();
  const int64_t total = settings_.total_chunks;
  for (;;) {
    const int64_t w = window_++;
    if (total == 0 || w < total) active_.push_back({w, 0, noise_.initial(w * settings_.chunk, shape), actions});
    if (active_.empty()) throw Error("sampler: rolling window is empty");

    // One call over the window, oldest chunk first, each at its own level.
    const int64_t per_chunk = shape_numel(shape);
    Tensor x = Tensor::empty({static_cast<int64_t>(active_.size()) * settings_.chunk, shape[1], shape[2], shape[3]});
    std::vector<float> t;
    Tensor window_actions;  // [window frames, action_dim] when the chunks carry actions
    const bool with_actions = active_.front().actions.defined();
    if (with_actions)
      window_actions = Tensor::zeros({static_cast<int64_t>(active_.size()) * settings_.chunk,
                                      active_.front().actions.dim(1)});
    for (size_t i = 0; i < active_.size(); ++i) {
      std::memcpy(x.f32() + i * per_chunk, active_[i].x.f32(), per_chunk * sizeof(float));
      t.insert(t.end(), static_cast<size_t>(settings_.chunk), schedule_.timestep(active_[i].level));
      if (with_actions && active_[i].actions.defined())
        std::memcpy(window_actions.f32() + i * active_[i].actions.numel(), active_[i].actions.to(DType::F32).f32(),
                    active_[i].actions.numel() * sizeof(float));
    }
    const int64_t start = active_.front().chunk * settings_.chunk;
    const auto t0 = Clock::now();
    Tensor x0 = denoise(x, t, start, false, window_actions);
    timing_.denoise_ms += ms_since(t0);

    // The window's first chunk is finished when this call saw it at the last level.
    const Active front = active_.front();
    const bool front_finished = front.level + 1 == levels;

    // Re-noise every chunk not yet at the last level to its next level.
    std::vector<Tensor> chunk_x0;
    for (size_t i = 0; i < active_.size(); ++i) {
      Tensor one = Tensor::empty(shape);
      std::memcpy(one.f32(), x0.f32() + i * per_chunk, per_chunk * sizeof(float));
      chunk_x0.push_back(one);
      Active& a = active_[i];
      if (a.level + 1 < levels) {
        a.x = renoise(one, noise_.roll(w, a.chunk, shape), schedule_.sigma(a.level + 1));
        ++a.level;
      }
    }
    // The window's first chunk enters the clean cache.
    clean_pass(chunk_x0.front(), front.chunk, start, front.actions);
    if (front_finished) {
      active_.pop_front();
      remember_clean(front.chunk, chunk_x0.front(), front.actions);
      return chunk_x0.front();
    }
  }
}

void Sampler::recache() {
  // The most recent clean chunks, sink frames excepted, re-run in order.
  const auto t0 = Clock::now();
  const int64_t newest = chunks_done_ * settings_.chunk;  // frames before this are done
  const int64_t from = std::max(settings_.sink_frames, newest - settings_.recache_frames);
  for (const auto& [index, clean] : clean_) {
    const int64_t start = index * settings_.chunk;
    if (start < from) continue;
    call_model(clean.x0, std::vector<float>(static_cast<size_t>(clean.x0.dim(0)), settings_.context_noise), start,
               true, clean.actions);
    for (int64_t f = 0; f < settings_.chunk; ++f) recached_.push_back(start + f);
  }
  timing_.cache_update_ms += ms_since(t0);
}

}  // namespace wl
