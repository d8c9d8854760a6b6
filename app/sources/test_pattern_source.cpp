#include "app/sources/test_pattern_source.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace wl::app {

namespace {

constexpr double kPi = 3.14159265358979323846;

void hsv_to_rgb(double h, double s, double v, uint8_t out[3]) {
  h = h - std::floor(h);
  const double i = std::floor(h * 6.0), f = h * 6.0 - i;
  const double p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  double r, g, b;
  switch (static_cast<int>(i) % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
  out[0] = static_cast<uint8_t>(std::lround(r * 255));
  out[1] = static_cast<uint8_t>(std::lround(g * 255));
  out[2] = static_cast<uint8_t>(std::lround(b * 255));
}

uint8_t mix(uint8_t a, uint8_t b, double t) {
  return static_cast<uint8_t>(std::clamp(a + (b - a) * t, 0.0, 255.0));
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

TestPatternSource::TestPatternSource(TestPatternOptions options) : opt_(options) {
  reset(0, "");
}

TestPatternSource::Palette TestPatternSource::palette_for(const std::string& prompt) {
  const uint64_t h = fnv1a64(prompt);
  const double hue = static_cast<double>(h & 0xffff) / 65536.0;
  const double hue2 = hue + 0.25 + static_cast<double>((h >> 16) & 0xff) / 1024.0;
  const double sat = 0.45 + static_cast<double>((h >> 24) & 0xff) / 255.0 * 0.45;
  Palette p{};
  hsv_to_rgb(hue, sat, 0.85, p.ground_a);
  hsv_to_rgb(hue, sat * 0.8, 0.45, p.ground_b);
  hsv_to_rgb(hue2, 0.65, 0.55, p.sky_top);
  hsv_to_rgb(hue2 + 0.05, 0.25, 0.95, p.sky_horizon);
  hsv_to_rgb(hue + 0.5, 0.9, 1.0, p.accent);
  return p;
}

void TestPatternSource::reset(uint64_t seed, const std::string& prompt) {
  seed_ = seed;
  // The seed picks where in the world the camera starts.
  const uint64_t h = fnv1a64(std::to_string(seed));
  cam_ = Camera{static_cast<double>(h % 1000) * 0.37, static_cast<double>((h >> 20) % 1000) * 0.53,
                static_cast<double>((h >> 40) % 628) / 100.0, 0.0};
  palette_ = palette_for(prompt);
}

void TestPatternSource::set_prompt(const std::string& prompt) { palette_ = palette_for(prompt); }

void TestPatternSource::step_camera(const FrameActions& a) {
  constexpr double kMove = 0.12, kTurn = 0.045, kTilt = 0.02;
  double fwd = 0, side = 0;
  if (a.held(kActForward)) fwd += kMove;
  if (a.held(kActBack)) fwd -= kMove;
  if (a.held(kActRight)) side += kMove;
  if (a.held(kActLeft)) side -= kMove;
  if (a.held(kActLookLeft)) cam_.yaw -= kTurn;
  if (a.held(kActLookRight)) cam_.yaw += kTurn;
  if (a.held(kActLookUp)) cam_.pitch += kTilt;
  if (a.held(kActLookDown)) cam_.pitch -= kTilt;
  cam_.yaw += a.mouse_dx * 0.003;
  cam_.pitch = std::clamp(cam_.pitch + a.mouse_dy * 0.003, -0.35, 0.35);
  const double s = std::sin(cam_.yaw), c = std::cos(cam_.yaw);
  cam_.x += s * fwd + c * side;
  cam_.z += c * fwd - s * side;
}

void TestPatternSource::render_frame(int64_t frame_index, uint8_t* rgb) const {
  const int w = opt_.width, h = opt_.height;
  const double t = static_cast<double>(frame_index) / opt_.fps;  // world's own clock
  const int horizon = static_cast<int>(h * (0.42 + cam_.pitch));
  const double s = std::sin(cam_.yaw), c = std::cos(cam_.yaw);
  const double focal = 0.9 * w;
  // Sun position on screen follows the yaw (one full turn = 2 screen widths).
  const double sun_x = w * 0.5 - std::remainder(cam_.yaw - 0.7, 2 * kPi) / (2 * kPi) * 2.0 * w;
  const double sun_y = horizon * 0.45;
  for (int y = 0; y < h; ++y) {
    uint8_t* row = rgb + static_cast<size_t>(y) * w * 3;
    if (y < horizon) {
      const double v = horizon > 0 ? static_cast<double>(y) / horizon : 0.0;
      for (int x = 0; x < w; ++x) {
        uint8_t* px = row + x * 3;
        for (int k = 0; k < 3; ++k) px[k] = mix(palette_.sky_top[k], palette_.sky_horizon[k], v);
        const double dx = x - sun_x, dy = y - sun_y;
        const double d2 = dx * dx + dy * dy, r = h * 0.07;
        if (d2 < r * r)
          for (int k = 0; k < 3; ++k) px[k] = mix(px[k], palette_.accent[k], 0.85);
      }
      continue;
    }
    // Ground plane: camera height 1, perspective by row distance from the horizon.
    const double dist = focal * 1.0 / std::max(0.5, static_cast<double>(y - horizon + 1));
    const double fog = std::clamp(1.0 - dist / 60.0, 0.0, 1.0);
    for (int x = 0; x < w; ++x) {
      const double lateral = (x - w * 0.5) / focal * dist;
      const double wx = cam_.x + s * dist + c * lateral;
      const double wz = cam_.z + c * dist - s * lateral;
      // Checkers, plus a slow ripple of its own that moves with time.
      const double ripple = 0.35 * std::sin(wx * 0.7 + t * 2.1) * std::sin(wz * 0.5 - t * 1.3);
      const bool check = (static_cast<int64_t>(std::floor(wx)) + static_cast<int64_t>(std::floor(wz))) & 1;
      const double shade = std::clamp((check ? 0.15 : 0.85) + ripple, 0.0, 1.0);
      uint8_t* px = row + x * 3;
      for (int k = 0; k < 3; ++k) {
        const uint8_t g = mix(palette_.ground_b[k], palette_.ground_a[k], shade);
        px[k] = mix(palette_.sky_horizon[k], g, fog);
      }
      // Pillars on a lattice every 8 units: an accent that makes motion obvious.
      const double lx = wx - 8.0 * std::round(wx / 8.0), lz = wz - 8.0 * std::round(wz / 8.0);
      if (lx * lx + lz * lz < 0.5)
        for (int k = 0; k < 3; ++k) px[k] = mix(px[k], palette_.accent[k], fog);
    }
  }
}

void TestPatternSource::simulate_cache(int64_t last_frame, const uint8_t* last_rgb,
                                       ChunkStats& stats) const {
  cache::CacheStats& cs = stats.cache;
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kTile = 16;
  const int rows = opt_.height / kTile, cols = opt_.width / kTile;
  const int tokens = rows * cols;
  cs.policy = "simulated sink+window (test pattern)";
  cs.blocks = opt_.sim_blocks;
  cs.budget_tokens = static_cast<int64_t>(tokens) * (1 + opt_.sim_window_frames);
  // Columns: the sink (frame 0), the window, and the frames evicted this chunk.
  const int64_t window_first = std::max<int64_t>(1, last_frame - opt_.sim_window_frames + 1);
  const int64_t evicted_first = std::max<int64_t>(1, window_first - opt_.chunk_frames);
  cs.frames.clear();
  cs.frames.push_back(0);
  for (int64_t f = evicted_first; f <= last_frame; ++f)
    if (f > 0) cs.frames.push_back(f);
  cs.slots.assign(static_cast<size_t>(cs.blocks) * cs.frames.size(), {});
  int64_t held = 0;
  for (int b = 0; b < cs.blocks; ++b) {
    for (size_t col = 0; col < cs.frames.size(); ++col) {
      const int64_t f = cs.frames[col];
      cache::SlotStats& s = cs.slots[static_cast<size_t>(b) * cs.frames.size() + col];
      if (f == 0) {
        s = {tokens, cache::SlotKind::Sink};
      } else if (f < window_first) {
        s = {0, cache::SlotKind::Evicted};
      } else if (f == window_first && b % 2 == 1) {
        s = {tokens / 2, cache::SlotKind::Merged};  // deeper blocks merge the oldest frame
      } else {
        s = {tokens, cache::SlotKind::Kept};
      }
      held += s.tokens;
    }
  }
  cs.bytes_used = held * 2 /*k,v*/ * 64 /*dim*/ * 2 /*bf16*/;
  cs.bytes_budget = cs.budget_tokens * cs.blocks * 2 * 64 * 2;
  // Token scores of the newest frame: local contrast of each tile.
  cache::TokenScoreGrid grid;
  grid.rows = rows;
  grid.cols = cols;
  grid.scores.resize(static_cast<size_t>(tokens));
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      double sum = 0, sum2 = 0;
      for (int y = 0; y < kTile; ++y)
        for (int x = 0; x < kTile; ++x) {
          const uint8_t* px = last_rgb + (static_cast<size_t>(r * kTile + y) * opt_.width + c * kTile + x) * 3;
          const double l = (0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]) / 255.0;
          sum += l;
          sum2 += l * l;
        }
      const double n = kTile * kTile, mean = sum / n;
      grid.scores[static_cast<size_t>(r) * cols + c] = static_cast<float>(std::sqrt(std::max(0.0, sum2 / n - mean * mean)));
    }
  cs.token_scores.assign(cs.frames.size(), {});
  cs.token_scores.back() = std::move(grid);
  cs.policy_ms = ms_since(t0);
}

ChunkStats TestPatternSource::next_chunk(const ChunkRequest& request, std::vector<uint8_t>& rgb) {
  const size_t frame_bytes = format().bytes();
  const size_t n = request.actions.size();
  rgb.resize(n * frame_bytes);
  ChunkStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    step_camera(request.actions[i]);
    render_frame(request.first_frame + static_cast<int64_t>(i), rgb.data() + i * frame_bytes);
  }
  // The pattern has no denoiser; rendering stands in for decoding.
  stats.stages.decode_ms = ms_since(t0);
  if (n > 0)
    simulate_cache(request.first_frame + static_cast<int64_t>(n) - 1, rgb.data() + (n - 1) * frame_bytes, stats);
  stats.stages.cache_update_ms = stats.cache.policy_ms;
  return stats;
}

}  // namespace wl::app
