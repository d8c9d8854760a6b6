#include "runtime/model/noise_source.h"

#include <cmath>
#include <cstring>
#include <random>

#include "runtime/core/error.h"

namespace wl {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

Tensor SeededNoise::draw(uint64_t kind, uint64_t a, uint64_t b, const Shape& shape) const {
  std::mt19937_64 rng(mix(seed_ ^ mix(kind ^ mix(a ^ mix(b)))));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor t = Tensor::empty(shape);
  float* p = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = normal(rng);
  return t;
}

Tensor SeededNoise::initial(int64_t first_frame, const Shape& shape) {
  // Per frame, so a chunk's noise does not depend on how frames are grouped.
  Tensor out = Tensor::empty(shape);
  const Shape frame_shape(shape.begin() + 1, shape.end());
  const int64_t per_frame = shape_numel(frame_shape);
  for (int64_t f = 0; f < shape[0]; ++f) {
    Tensor one = draw(1, static_cast<uint64_t>(first_frame + f), 0, frame_shape);
    std::memcpy(out.f32() + f * per_frame, one.f32(), per_frame * sizeof(float));
  }
  return out;
}

Tensor SeededNoise::step(int64_t chunk, int64_t step, const Shape& shape) { return draw(2, chunk, step, shape); }
Tensor SeededNoise::roll(int64_t window, int64_t chunk, const Shape& shape) { return draw(3, window, chunk, shape); }
Tensor SeededNoise::context(int64_t chunk, const Shape& shape) { return draw(4, chunk, 0, shape); }

Tensor RecordedNoise::exact(const std::string& name, const Shape& shape) const {
  if (!file_.has(name)) throw Error(file_.path() + ": missing tensor '" + name + "'");
  Tensor t = file_.get_f32(name);
  if (t.shape() != shape)
    throw Error(file_.path() + ": tensor '" + name + "' has shape " + shape_str(t.shape()) + ", expected " +
                shape_str(shape));
  return t;
}

Tensor RecordedNoise::initial(int64_t first_frame, const Shape& shape) {
  if (!file_.has("noise.init")) throw Error(file_.path() + ": missing tensor 'noise.init'");
  Tensor all = file_.get_f32("noise.init");
  const Shape frame_shape(shape.begin() + 1, shape.end());
  if (all.rank() != static_cast<int>(shape.size()) || Shape(all.shape().begin() + 1, all.shape().end()) != frame_shape)
    throw Error(file_.path() + ": tensor 'noise.init' has shape " + shape_str(all.shape()) + ", frames of " +
                shape_str(frame_shape) + " expected");
  if (first_frame < 0 || first_frame + shape[0] > all.dim(0))
    throw Error(file_.path() + ": 'noise.init' holds " + std::to_string(all.dim(0)) + " frames, frames [" +
                std::to_string(first_frame) + ", " + std::to_string(first_frame + shape[0]) + ") were asked for");
  Tensor out = Tensor::empty(shape);
  const int64_t per_frame = shape_numel(frame_shape);
  std::memcpy(out.f32(), all.f32() + first_frame * per_frame, shape[0] * per_frame * sizeof(float));
  return out;
}

Tensor RecordedNoise::step(int64_t chunk, int64_t step, const Shape& shape) {
  return exact("noise.step." + std::to_string(chunk) + "." + std::to_string(step), shape);
}
Tensor RecordedNoise::roll(int64_t window, int64_t chunk, const Shape& shape) {
  return exact("noise.roll." + std::to_string(window) + "." + std::to_string(chunk), shape);
}
Tensor RecordedNoise::context(int64_t chunk, const Shape& shape) {
  return exact("noise.context." + std::to_string(chunk), shape);
}

}  // namespace wl
