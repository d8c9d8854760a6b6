#include "bench/eval/world_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include <omp.h>

#include "app/record/frame_writer.h"
#include "bench/eval/image_metrics.h"
#include "app/sources/oracle_primer.h"
#include "app/sources/world_source.h"
#include "runtime/core/error.h"
#include "runtime/core/ops.h"
#include "app/sources/oracle/oracle.h"

namespace wl::app {
namespace {

using Clock = std::chrono::steady_clock;

// The oracle at the state the model is primed from: `seed`, theme of the
// prompt, `prime` idle frames rendered.
struct OracleRun {
  oracle::OracleGame game;
  std::vector<uint8_t> frame;

  OracleRun(int w, int h) : game(oracle::OracleOptions{w, h}), frame(game.frame_bytes()) {}
  // The same priming the model gets, so both continue from one state; `frame`
  // holds the last priming frame.
  void start(uint64_t seed, const std::string& prompt, int prime) {
    std::vector<FrameActions> actions;
    const std::vector<uint8_t> frames = prime_oracle(game, seed, prompt, prime, actions);
    if (prime > 0) std::copy(frames.end() - static_cast<ptrdiff_t>(frame.size()), frames.end(), frame.begin());
  }
};

WorldSourceOptions source_options(const WorldBenchOptions& o, const std::string& policy, int w, int h) {
  WorldSourceOptions s;
  s.dir = o.world_dir;
  s.policy = policy;
  s.dit.precision = ops::parse_precision(o.precision);
  s.adaptive_threads = o.adaptive_threads;
  s.primer = [w, h](uint64_t seed, const std::string& prompt, int frames, std::vector<FrameActions>& actions) {
    return oracle_priming_frames(w, h, seed, prompt, frames, actions);
  };
  return s;
}

// A deterministic walk: held directions of varying length with idle gaps.
std::vector<FrameActions> scripted_actions(int frames, uint64_t seed) {
  const uint32_t dirs[] = {kActRight, kActLeft, kActForward, kActBack, kActForward | kActRight,
                           kActBack | kActLeft, kActForward | kActLeft, kActBack | kActRight};
  std::vector<FrameActions> out;
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  auto next = [&s] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  while (static_cast<int>(out.size()) < frames) {
    const uint32_t keys = (next() % 6 == 0) ? 0u : dirs[next() % 8];
    const int hold = 9 + static_cast<int>(next() % 22);
    for (int i = 0; i < hold && static_cast<int>(out.size()) < frames; ++i) out.push_back(FrameActions{keys});
  }
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

int sign(int v) { return (v > 0) - (v < 0); }

// Mean colour of a chunk of RGB8 frames.
MeanColour chunk_mean_colour(const std::vector<uint8_t>& rgb, int frames, int w, int h) {
  const size_t frame_bytes = static_cast<size_t>(w) * h * 3;
  MeanColour sum;
  for (int i = 0; i < frames; ++i) {
    const MeanColour m = mean_colour({rgb.data() + i * frame_bytes, w, h});
    sum.r += m.r / frames, sum.g += m.g / frames, sum.b += m.b / frames;
  }
  return sum;
}

}  // namespace

nlohmann::json run_world_bench(const WorldBenchOptions& o) {
  const WorldDescription d = WorldDescription::read(o.world_dir);
  const int W = d.image_width, H = d.image_height, chunk = static_cast<int>(d.chunk);
  const int prime = static_cast<int>(d.prime_frames);
  const size_t frame_bytes = static_cast<size_t>(W) * H * 3;
  if (d.presets.empty()) throw Error(d.dir + "/world.json: the benchmark needs prompt presets");
  const ops::CpuInfo cpu = ops::cpu_info();
  const ops::MatmulPrecision precision = ops::parse_precision(o.precision);
  nlohmann::json out = {{"world", d.name}, {"frames", o.frames}, {"image", {W, H}}, {"chunk", chunk},
                        {"steps", d.steps}, {"prime_frames", prime},
                        {"isa", cpu.onednn_isa}, {"kernels", cpu.kernels},
                        {"precision", ops::precision_name(precision)},
                        {"bf16", precision == ops::MatmulPrecision::BF16 ? (cpu.native_bf16 ? "native" : "emulated")
                                                                         : "unused"},
                        {"threads", omp_get_max_threads()}, {"build_arch", cpu.build_arch}};

  // Theme centroids from the oracle (mean colour over a walk in each theme).
  std::vector<MeanColour> centroids(oracle::kThemeCount);
  {
    OracleRun run(W, H);
    const auto walk = scripted_actions(120, 7);
    for (int t = 0; t < oracle::kThemeCount; ++t) {
      run.game.reset(o.seed + 100, static_cast<oracle::Theme>(t));
      MeanColour sum;
      for (const FrameActions& a : walk) {
        run.game.step(a, run.frame.data());
        const MeanColour m = mean_colour({run.frame.data(), W, H});
        sum.r += m.r / walk.size();
        sum.g += m.g / walk.size();
        sum.b += m.b / walk.size();
      }
      centroids[t] = sum;
    }
  }

  // ---- short horizon: 16 frames from the oracle's start, same actions -------
  // One start per prompt preset (its own world seed and keys), so the number is
  // not one place's luck.
  {
    const int scale = H / 64 > 0 ? H / 64 : 1;  // pixels per texel
    nlohmann::json per_start = nlohmann::json::array();
    double sum = 0;
    int n = 0;
    std::vector<double> frame_sum(16, 0.0);
    std::vector<int> frame_n(16, 0);
    double still_sum = 0;  // reference: the last priming frame moved with the camera
    int still_n = 0;
    double ae_sum = 0;  // reference: the oracle's frame through the package's encoder and decoder
    int ae_n = 0;
    WorldSource model(source_options(o, "", W, H));  // reset() below re-primes it for each start
    for (size_t p = 0; p < d.presets.size(); ++p) {
      const uint64_t seed = o.seed + p;
      OracleRun run(W, H);
      const std::string& prompt = d.presets[p];
      run.start(seed, prompt, prime);
      const std::vector<uint8_t> last_prime = run.frame;  // the view the priming ended on
      model.reset(seed, prompt);
      // World texels seen while priming: the camera did not move, so the first view.
      const int64_t seen_x = run.game.camera_x(), seen_y = run.game.camera_y();
      const auto actions = scripted_actions(16, seed);
      double start_sum = 0;
      int start_n = 0;
      std::vector<uint8_t> rgb, mask(static_cast<size_t>(W) * H), moved(frame_bytes);
      for (int f = 0; f < 16; f += chunk) {
        model.next_chunk({f, std::span<const FrameActions>(actions.data() + f, chunk)}, rgb);
        for (int i = 0; i < chunk && f + i < 16; ++i) {
          run.game.step(actions[f + i], run.frame.data());
          // Mask: pixels showing world content that was inside the priming view.
          const int64_t cx = run.game.camera_x(), cy = run.game.camera_y();
          for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) {
              const int64_t wx = cx + x / scale - seen_x, wy = cy + y / scale - seen_y;
              const bool seen = wx >= 0 && wx < W / scale && wy >= 0 && wy < H / scale;
              mask[static_cast<size_t>(y) * W + x] = seen;
              // The same world texel in the priming view: a world that stood still looks like this.
              const size_t src = seen ? (static_cast<size_t>(wy * scale + y % scale) * W + wx * scale + x % scale) * 3 : 0;
              for (int c = 0; c < 3; ++c) moved[(static_cast<size_t>(y) * W + x) * 3 + c] = last_prime[src + c];
            }
          const double v = psnr({rgb.data() + i * frame_bytes, W, H}, {run.frame.data(), W, H}, mask);
          if (std::isfinite(v)) start_sum += v, ++start_n, frame_sum[f + i] += v, ++frame_n[f + i];
          // No change at all counts as an error of one level per channel (48.1 dB), not as infinity.
          const double still = std::min(psnr({moved.data(), W, H}, {run.frame.data(), W, H}, mask),
                                        10.0 * std::log10(255.0 * 255.0));
          if (!std::isnan(still)) still_sum += still, ++still_n;
          if (const ImageEncoder* encoder = model.world().encoder()) {
            std::vector<uint8_t> round_trip;
            model.world().decoder().decode_rgb8(encoder->encode_rgb8(run.frame.data(), 1, H, W), round_trip);
            const double v = psnr({round_trip.data(), W, H}, {run.frame.data(), W, H}, mask);
            if (std::isfinite(v)) ae_sum += v, ++ae_n;
          }
        }
      }
      sum += start_sum, n += start_n;
      per_start.push_back({{"prompt", prompt}, {"seed", seed},
                           {"psnr_db", start_n ? start_sum / start_n : std::numeric_limits<double>::quiet_NaN()},
                           {"frames_scored", start_n}});
    }
    out["psnr16_db"] = n ? sum / n : std::numeric_limits<double>::quiet_NaN();
    out["psnr16_per_start"] = per_start;
    nlohmann::json per_frame = nlohmann::json::array();
    for (int f = 0; f < 16; ++f)
      per_frame.push_back(frame_n[f] ? frame_sum[f] / frame_n[f] : std::numeric_limits<double>::quiet_NaN());
    out["psnr16_per_frame"] = per_frame;  // mean over the starts that scored that frame
    // What copying what the priming showed would score: the cost of the world's own motion
    // (water, fire, creatures) that a model has to predict to do better.
    out["psnr16_moved_priming_frame_db"] = still_n ? still_sum / still_n : std::numeric_limits<double>::quiet_NaN();
    // What perfect latents would score: the autoencoder's own loss, a ceiling for the model.
    out["psnr16_autoencoder_db"] = ae_n ? ae_sum / ae_n : std::numeric_limits<double>::quiet_NaN();
    out["psnr16_mask"] = "pixels whose world position was inside the priming view (frames with none are skipped)";
  }

  // ---- prompt switches: every ordered pair of presets, from a fresh start ------
  // Two chunks under the first prompt, switch, two chunks under the second; the
  // second chunk after the switch must classify as the new theme.
  int pair_switches = 0, pair_ok = 0;
  nlohmann::json pair_misses = nlohmann::json::array();
  {
    WorldSource model(source_options(o, "", W, H));
    std::vector<uint8_t> rgb;
    const std::vector<FrameActions> walk(static_cast<size_t>(4 * chunk), FrameActions{kActRight});
    for (size_t a = 0; a < d.presets.size(); ++a)
      for (size_t b = 0; b < d.presets.size(); ++b) {
        const int ta = static_cast<int>(oracle::theme_from_prompt(d.presets[a]));
        const int tb = static_cast<int>(oracle::theme_from_prompt(d.presets[b]));
        if (ta == tb) continue;
        model.reset(o.seed + 1000 + a * 16 + b, d.presets[a]);
        for (int c = 0; c < 4; ++c) {
          if (c == 2) model.set_prompt(d.presets[b]);
          model.next_chunk({c * chunk, std::span<const FrameActions>(walk.data() + c * chunk, chunk)}, rgb);
        }
        const int got = nearest(chunk_mean_colour(rgb, chunk, W, H), centroids);
        ++pair_switches;
        if (got == tb) ++pair_ok;
        else pair_misses.push_back({{"from", d.presets[a]}, {"to", d.presets[b]},
                                    {"seen", oracle::theme_name(static_cast<oracle::Theme>(got))}});
      }
  }

  // ---- long scripted play: speed, drift, actions, prompts ---------------------
  {
    WorldSource model(source_options(o, "", W, H));
    OracleRun run(W, H);
    // The same play in another world (seed): what the contrast measures give for a model that
    // is perfect but has drifted to other places of the same themes.
    OracleRun other(W, H);
    std::string prompt = d.presets.front();
    run.start(o.seed, prompt, prime);
    other.start(o.seed + 7777, prompt, prime);
    model.reset(o.seed, prompt);
    const auto actions = scripted_actions(o.frames, o.seed + 1);
    std::vector<uint8_t> rgb, prev(frame_bytes), oracle_prev(frame_bytes);
    bool have_prev = false;
    std::vector<double> frame_ms, denoise_ms, cache_ms, decode_ms;
    nlohmann::json chunk_threads = nlohmann::json::object();  // thread count -> chunks made with it
    double total_ms = 0;
    std::vector<double> hist_window_dist;  // per 100-frame window
    std::vector<double> model_hist_acc, oracle_hist_acc;
    // Contrast (luma std) of the model's frames against the oracle's, per frame and per
    // 100-frame window (the two drift apart in place, so one frame may face an unrelated view).
    std::vector<double> frame_contrast_ratio, window_contrast_ratio, other_frame_contrast_ratio;
    double window_model_contrast = 0, window_oracle_contrast = 0;
    // Texture against the oracle's frame, wherever things sit (3x3 patch distribution): blur and
    // wrong colours side by side count, not only the luma spread contrast sees; the other world
    // gives what a perfect model that drifted to other places scores.
    std::vector<double> texture_distance, other_texture_distance;
    int motion_frames = 0, motion_ok = 0, oracle_motion_ok = 0, switches = 0, switches_ok = 0;
    int next_switch = o.switch_every, preset = 0, switch_chunk = -1, expect_theme = 0;
    for (int f = 0; f + chunk <= o.frames; f += chunk) {
      if (f >= next_switch) {
        preset = (preset + 1) % static_cast<int>(d.presets.size());
        prompt = d.presets[preset];
        model.set_prompt(prompt);
        run.game.set_theme(oracle::theme_from_prompt(prompt));
        other.game.set_theme(oracle::theme_from_prompt(prompt));
        expect_theme = static_cast<int>(oracle::theme_from_prompt(prompt));
        switch_chunk = f / chunk;
        next_switch += o.switch_every;
        ++switches;
      }
      const auto t0 = Clock::now();
      const ChunkStats stats = model.next_chunk({f, std::span<const FrameActions>(actions.data() + f, chunk)}, rgb);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      total_ms += ms;
      for (int i = 0; i < chunk; ++i) frame_ms.push_back(ms / chunk);
      denoise_ms.push_back(stats.stages.denoise_ms / chunk);
      chunk_threads[std::to_string(stats.threads)] = chunk_threads.value(std::to_string(stats.threads), 0) + 1;
      cache_ms.push_back(stats.stages.cache_update_ms / chunk);
      decode_ms.push_back(stats.stages.decode_ms / chunk);

      for (int i = 0; i < chunk; ++i) {
        const FrameView mf{rgb.data() + i * frame_bytes, W, H};
        run.game.step(actions[f + i], run.frame.data());
        const FrameView of{run.frame.data(), W, H};
        // Histograms accumulate per 100-frame window.
        auto mh = colour_histogram(mf), oh = colour_histogram(of);
        if (model_hist_acc.empty()) model_hist_acc.assign(mh.size(), 0), oracle_hist_acc.assign(oh.size(), 0);
        for (size_t k = 0; k < mh.size(); ++k) model_hist_acc[k] += mh[k], oracle_hist_acc[k] += oh[k];
        if ((f + i + 1) % 100 == 0) {
          for (auto* h : {&model_hist_acc, &oracle_hist_acc})
            for (double& v : *h) v /= 100.0;
          hist_window_dist.push_back(histogram_distance(model_hist_acc, oracle_hist_acc));
          window_contrast_ratio.push_back(window_oracle_contrast > 0 ? window_model_contrast / window_oracle_contrast
                                                                     : std::numeric_limits<double>::quiet_NaN());
          window_model_contrast = window_oracle_contrast = 0;
          std::fill(model_hist_acc.begin(), model_hist_acc.end(), 0.0);
          std::fill(oracle_hist_acc.begin(), oracle_hist_acc.end(), 0.0);
        }
        const double oc = contrast(of), mc = contrast(mf);
        other.game.step(actions[f + i], other.frame.data());
        if (oc > 1.0) {
          frame_contrast_ratio.push_back(mc / oc);
          other_frame_contrast_ratio.push_back(contrast({other.frame.data(), W, H}) / oc);
        }
        window_model_contrast += mc, window_oracle_contrast += oc;
        const PatchTexture oracle_texture = patch_texture(of);
        texture_distance.push_back(patch_texture_distance(patch_texture(mf), oracle_texture));
        other_texture_distance.push_back(patch_texture_distance(patch_texture({other.frame.data(), W, H}), oracle_texture));
        // Motion: the content moves against the camera.
        const oracle::Motion m = run.game.motion_for(actions[f + i]);
        if (have_prev && (m.dx || m.dy)) {
          const Shift s = phase_correlation({prev.data(), W, H}, mf);
          ++motion_frames;
          motion_ok += sign(s.dx) == -sign(m.dx) && sign(s.dy) == -sign(m.dy);
          // The same measurement on the oracle's own frames: the metric's ceiling.
          const Shift so = phase_correlation({oracle_prev.data(), W, H}, of);
          oracle_motion_ok += sign(so.dx) == -sign(m.dx) && sign(so.dy) == -sign(m.dy);
        }
        std::copy(mf.rgb, mf.rgb + frame_bytes, prev.begin());
        std::copy(of.rgb, of.rgb + frame_bytes, oracle_prev.begin());
        have_prev = true;
      }
      // Prompt adherence: the second chunk after a switch shows the new theme.
      if (switch_chunk >= 0 && f / chunk == switch_chunk + 1) {
        switches_ok += nearest(chunk_mean_colour(rgb, chunk, W, H), centroids) == expect_theme;
        switch_chunk = -1;
      }
    }
    out["fps"] = frame_ms.size() / (total_ms * 1e-3);
    out["p50_ms"] = percentile(frame_ms, 0.5);
    out["p99_ms"] = percentile(frame_ms, 0.99);
    out["max_ms"] = percentile(frame_ms, 1.0);
    out["chunks_per_thread_count"] = chunk_threads;
    out["adaptive_threads"] = o.adaptive_threads;
    {
      // The slowest frames and what happened there (a stall at a prompt switch counts).
      std::vector<size_t> order(frame_ms.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      const size_t n = std::min<size_t>(5, order.size());
      std::partial_sort(order.begin(), order.begin() + n, order.end(),
                        [&](size_t a, size_t b) { return frame_ms[a] > frame_ms[b]; });
      nlohmann::json slow = nlohmann::json::array();
      for (size_t i = 0; i < n; ++i)
        slow.push_back({{"frame", order[i]}, {"ms", frame_ms[order[i]]},
                        {"after_prompt_switch", o.switch_every > 0 && order[i] >= static_cast<size_t>(o.switch_every) &&
                                                    order[i] % o.switch_every < static_cast<size_t>(2 * chunk)}});
      out["slowest_frames"] = slow;
    }
    out["frame_ms_meaning"] = "model time per frame: (denoise + cache update + decode) of its chunk / chunk frames";
    out["stage_p50_ms"] = {{"denoise", percentile(denoise_ms, 0.5)},
                           {"cache_update", percentile(cache_ms, 0.5)},
                           {"decode", percentile(decode_ms, 0.5)}};
    double worst = 0;
    for (double v : hist_window_dist) worst = std::max(worst, v);
    out["hist_drift_ratio"] = hist_window_dist.empty() || hist_window_dist.front() <= 0
                                  ? std::numeric_limits<double>::quiet_NaN()
                                  : worst / hist_window_dist.front();
    out["hist_window_distance"] = hist_window_dist;
    out["min_contrast_ratio"] = percentile(frame_contrast_ratio, 0.0);
    out["p01_contrast_ratio"] = percentile(frame_contrast_ratio, 0.01);
    out["median_contrast_ratio"] = percentile(frame_contrast_ratio, 0.5);
    out["window_contrast_ratio"] = window_contrast_ratio;
    out["other_world_min_contrast_ratio"] = percentile(other_frame_contrast_ratio, 0.0);
    out["other_world_p01_contrast_ratio"] = percentile(other_frame_contrast_ratio, 0.01);
    out["min_window_contrast_ratio"] = percentile(window_contrast_ratio, 0.0);
    out["median_texture_distance"] = percentile(texture_distance, 0.5);
    out["p99_texture_distance"] = percentile(texture_distance, 0.99);
    out["other_world_median_texture_distance"] = percentile(other_texture_distance, 0.5);
    out["texture_distance_meaning"] = "sliced Wasserstein distance of 3x3 RGB patches to the oracle's frame, levels";
    out["action_adherence"] = motion_frames ? static_cast<double>(motion_ok) / motion_frames : 0.0;
    out["oracle_action_adherence"] = motion_frames ? static_cast<double>(oracle_motion_ok) / motion_frames : 0.0;
    const int all = switches + pair_switches;
    out["prompt_adherence"] = all ? static_cast<double>(switches_ok + pair_ok) / all : 0.0;
    out["prompt_switches"] = all;
    out["prompt_adherence_long_play"] = switches ? static_cast<double>(switches_ok) / switches : 0.0;
    out["prompt_adherence_pairs"] = pair_switches ? static_cast<double>(pair_ok) / pair_switches : 0.0;
    out["prompt_pair_misses"] = pair_misses;
  }

  // ---- memory: walk out and back, per policy ------------------------------------
  nlohmann::json memory = nlohmann::json::object();
  for (const std::string& policy : o.policies) {
    WorldSource model(source_options(o, policy, W, H));
    model.reset(o.seed, d.presets.front());
    const int steps = (o.memory_steps + chunk - 1) / chunk * chunk;
    std::vector<FrameActions> walk(static_cast<size_t>(steps), FrameActions{kActRight});
    walk.resize(static_cast<size_t>(2 * steps), FrameActions{kActLeft});
    std::vector<uint8_t> rgb, leaving;
    // The frame when leaving: a first idle chunk.
    std::vector<FrameActions> idle(static_cast<size_t>(chunk));
    model.next_chunk({0, idle}, rgb);
    leaving.assign(rgb.end() - frame_bytes, rgb.end());
    for (int f = 0; f < 2 * steps; f += chunk)
      model.next_chunk({chunk + f, std::span<const FrameActions>(walk.data() + f, chunk)}, rgb);
    memory[policy] = psnr({leaving.data(), W, H}, {rgb.data() + rgb.size() - frame_bytes, W, H});
  }
  out["memory_psnr_db"] = memory;
  out["memory_walk_frames"] = o.memory_steps;
  return out;
}

void write_world_strip(const WorldStripOptions& o) {
  const WorldDescription d = WorldDescription::read(o.world_dir);
  if (d.presets.size() < 2) throw Error(d.dir + "/world.json: the strip needs two prompt presets");
  const int W = d.image_width, H = d.image_height, chunk = static_cast<int>(d.chunk);
  const size_t frame_bytes = static_cast<size_t>(W) * H * 3;
  const int frames = (o.frames + chunk - 1) / chunk * chunk;
  const int switch_at = frames / 2 / chunk * chunk;
  const int cols = (frames + o.step - 1) / o.step, z = std::max(1, o.zoom), gap = 2;
  const int cw = W * z, ch = H * z;
  const int img_w = cols * cw + (cols + 1) * gap, img_h = 2 * ch + 3 * gap;
  std::vector<uint8_t> img(static_cast<size_t>(img_w) * img_h * 3, 255);
  auto paste = [&](const uint8_t* rgb, int col, int row) {
    const int x0 = gap + col * (cw + gap), y0 = gap + row * (ch + gap);
    for (int y = 0; y < ch; ++y)
      for (int x = 0; x < cw; ++x)
        for (int c = 0; c < 3; ++c)
          img[(static_cast<size_t>(y0 + y) * img_w + x0 + x) * 3 + c] =
              rgb[(static_cast<size_t>(y / z) * W + x / z) * 3 + c];
  };

  WorldSource model(source_options({o.world_dir}, "", W, H));
  OracleRun run(W, H);
  std::string prompt = d.presets[0];
  run.start(o.seed, prompt, static_cast<int>(d.prime_frames));
  model.reset(o.seed, prompt);
  // Walk right, then down-right: both axes of motion show.
  std::vector<FrameActions> actions(static_cast<size_t>(frames), FrameActions{kActRight});
  for (int f = frames / 3; f < frames; ++f) actions[f] = FrameActions{kActRight | kActBack};
  std::vector<uint8_t> rgb;
  for (int f = 0; f < frames; f += chunk) {
    if (f == switch_at) {
      prompt = d.presets[1];
      model.set_prompt(prompt);
      run.game.set_theme(oracle::theme_from_prompt(prompt));
    }
    model.next_chunk({f, std::span<const FrameActions>(actions.data() + f, chunk)}, rgb);
    for (int i = 0; i < chunk; ++i) {
      run.game.step(actions[f + i], run.frame.data());
      if ((f + i) % o.step) continue;
      paste(run.frame.data(), (f + i) / o.step, 0);
      paste(rgb.data() + i * frame_bytes, (f + i) / o.step, 1);
    }
  }
  // A red bar between the columns where the prompt switches.
  const int xs = gap + ((switch_at + o.step - 1) / o.step) * (cw + gap) - gap;
  for (int y = 0; y < img_h; ++y)
    for (int x = xs; x < xs + gap; ++x) {
      uint8_t* p = &img[(static_cast<size_t>(y) * img_w + x) * 3];
      p[0] = 220, p[1] = 30, p[2] = 30;
    }
  write_png(o.path, img.data(), img_w, img_h);
}

}  // namespace wl::app
