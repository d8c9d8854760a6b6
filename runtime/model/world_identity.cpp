#include "runtime/model/world_identity.h"

#include <cstdio>

#include "runtime/model/world.h"

namespace wl {

namespace {

struct Fnv1a {
  uint64_t h = 1469598103934665603ull;
  void bytes(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void text(const std::string& s) {
    bytes(s.data(), s.size());
    bytes("", 1);  // a separator, so "ab"+"c" differs from "a"+"bc"
  }
  void number(int64_t v) { bytes(&v, sizeof v); }
};

constexpr size_t kWholeBytes = 64 * 1024;
constexpr size_t kWindows = 64, kWindowBytes = 1024;

}  // namespace

std::string world_identity(const WorldDescription& d, const std::vector<const WeightMap*>& weights) {
  Fnv1a h;
  h.number(d.image_width);
  h.number(d.image_height);
  h.number(d.latent_channels);
  h.number(d.latent_height);
  h.number(d.latent_width);
  h.number(d.frames_per_latent);
  for (int s : d.steps) h.number(s);
  h.bytes(&d.shift, sizeof d.shift);
  h.number(d.chunk);
  h.bytes(&d.context_noise, sizeof d.context_noise);
  h.number(d.sink_frames);
  h.number(static_cast<int64_t>(d.mode));
  h.number(d.attention_frames);
  h.bytes(&d.latent_scale, sizeof d.latent_scale);
  for (const std::string& a : d.actions) h.text(a);
  for (const WeightMap* w : weights) {
    for (const std::string& name : w->names()) {
      const Tensor t = w->get(name);
      h.text(name);
      h.text(dtype_name(t.dtype()));
      for (int64_t s : t.shape()) h.number(s);
      const auto* p = static_cast<const uint8_t*>(t.raw());
      const size_t n = t.nbytes();
      if (n <= kWholeBytes) {
        h.bytes(p, n);
      } else {
        for (size_t i = 0; i < kWindows; ++i) h.bytes(p + (n - kWindowBytes) * i / (kWindows - 1), kWindowBytes);
      }
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h.h));
  return hex;
}

}  // namespace wl
