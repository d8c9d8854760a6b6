#include "runtime/model/model_family.h"

#include "runtime/core/error.h"

namespace wl {

const std::vector<ModelFamily>& model_families() {
  // Steps and shift of every row: the distilled 4-step list of Self Forcing's
  // configs (Rolling Forcing: 5 levels, as its reference fixture runs). Cache
  // sizes: 21 latent frames is the reference's attention reach (a 81-frame
  // video); LongLive keeps a 3-frame sink and a 12-frame local window.
  static const std::vector<ModelFamily> families = {
      {"self_forcing", "Self Forcing", {1000, 750, 500, 250}, 5.0, 3, SamplerMode::Chunk, 21, 0, "window", ""},
      {"causal_forcing", "Causal Forcing (chunk-wise)", {1000, 750, 500, 250}, 5.0, 3, SamplerMode::Chunk, 21, 0,
       "window", ""},
      {"causal_forcing_frame", "Causal Forcing (frame-wise)", {1000, 750, 500, 250}, 5.0, 1, SamplerMode::Chunk, 21,
       0, "window", ""},
      {"rolling_forcing", "Rolling Forcing", {1000, 800, 600, 400, 200}, 5.0, 3, SamplerMode::Rolling, 24, 3, "sink",
       "generator_ema", 21},
      {"longlive", "LongLive", {1000, 750, 500, 250}, 5.0, 3, SamplerMode::Chunk, 15, 3, "sink", "generator"},
  };
  return families;
}

const ModelFamily& model_family(const std::string& name) {
  std::string known;
  for (const ModelFamily& f : model_families()) {
    if (f.name == name) return f;
    known += (known.empty() ? "" : ", ") + f.name;
  }
  throw Error("unknown model family '" + name + "' (known: " + known + ")");
}

}  // namespace wl
