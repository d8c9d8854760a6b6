// Every random number of a generation comes from one NoiseSource: seeded for
// play, recorded tensors for the golden tests (docs/model.md §4, §9). Requests are
// addressed by what they are for, so the answer never depends on call order.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"

namespace wl {

class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // The pure noise frames [first_frame, first_frame + shape[0]) start from.
  virtual Tensor initial(int64_t first_frame, const Shape& shape) = 0;
  // Fresh noise after denoising step `step` of chunk `chunk` (chunk-wise mode).
  virtual Tensor step(int64_t chunk, int64_t step, const Shape& shape) = 0;
  // Fresh noise that re-noises chunk `chunk` after window `window` (rolling mode).
  virtual Tensor roll(int64_t window, int64_t chunk, const Shape& shape) = 0;
  // Noise for the clean pass of chunk `chunk` when context_noise > 0.
  virtual Tensor context(int64_t chunk, const Shape& shape) = 0;
};

// Standard normal noise from a seed (counter-based: each request seeds its own stream).
class SeededNoise : public NoiseSource {
 public:
  explicit SeededNoise(uint64_t seed) : seed_(seed) {}
  Tensor initial(int64_t first_frame, const Shape& shape) override;
  Tensor step(int64_t chunk, int64_t step, const Shape& shape) override;
  Tensor roll(int64_t window, int64_t chunk, const Shape& shape) override;
  Tensor context(int64_t chunk, const Shape& shape) override;

 private:
  Tensor draw(uint64_t kind, uint64_t a, uint64_t b, const Shape& shape) const;
  uint64_t seed_;
};

// Noise recorded in a safetensors file: noise.init [F, C, H, W],
// noise.step.{chunk}.{step}, noise.roll.{window}.{chunk}, noise.context.{chunk}.
class RecordedNoise : public NoiseSource {
 public:
  explicit RecordedNoise(SafetensorsFile file) : file_(std::move(file)) {}
  Tensor initial(int64_t first_frame, const Shape& shape) override;
  Tensor step(int64_t chunk, int64_t step, const Shape& shape) override;
  Tensor roll(int64_t window, int64_t chunk, const Shape& shape) override;
  Tensor context(int64_t chunk, const Shape& shape) override;

 private:
  Tensor exact(const std::string& name, const Shape& shape) const;
  SafetensorsFile file_;
};

}  // namespace wl
