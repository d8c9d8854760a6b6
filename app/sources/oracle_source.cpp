#include "app/sources/oracle_source.h"

#include <chrono>
#include <stdexcept>

namespace wl::app {

namespace {
oracle::OracleOptions game_options(const OracleSourceOptions& o) {
  if (o.chunk_frames < 1) throw std::invalid_argument("oracle source: chunk_frames must be >= 1");
  oracle::OracleOptions g;
  g.width = o.width;
  g.height = o.height;
  g.animate = o.animate;
  return g;
}
}  // namespace

OracleSource::OracleSource(OracleSourceOptions options) : opt_(options), game_(game_options(options)) {
  game_.reset(0, oracle::Theme::Meadow, opt_.start_x, opt_.start_y);
}

void OracleSource::reset(uint64_t seed, const std::string& prompt) {
  game_.reset(seed, oracle::theme_from_prompt(prompt), opt_.start_x, opt_.start_y);
}

void OracleSource::set_prompt(const std::string& prompt) { game_.set_theme(oracle::theme_from_prompt(prompt)); }

ChunkStats OracleSource::next_chunk(const ChunkRequest& request, std::vector<uint8_t>& rgb) {
  const auto t0 = std::chrono::steady_clock::now();
  const size_t fb = game_.frame_bytes();
  rgb.resize(request.actions.size() * fb);
  for (size_t i = 0; i < request.actions.size(); ++i) game_.step(request.actions[i], rgb.data() + i * fb);
  ChunkStats stats;
  stats.stages.decode_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  stats.cache.policy = "oracle";
  return stats;
}

}  // namespace wl::app
