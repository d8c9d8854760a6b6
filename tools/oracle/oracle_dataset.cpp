// oracle_dataset: writes episodes of the oracle game (frames, per-frame
// actions, prompts) for training the embedded world model; also renders
// preview contact sheets and measures the renderer's speed.
//
//   oracle_dataset --out DIR --episodes N --frames F [--size 64] [--seed S] [--jobs J]
//   oracle_dataset --preview PREFIX [--size 64] [--seed S]   (PREFIX_themes.png, PREFIX_motion.png)
//   oracle_dataset --bench [--size 64] [--frames F]
//
// One safetensors file per episode (see app/sources/oracle/README.md for the format).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <stb/stb_image_write.h>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"
#include "app/sources/oracle/oracle.h"
#include "app/sources/oracle/policy.h"

namespace {

using namespace wl::oracle;
using wl::FrameActions;

struct Args {
  std::string out;
  std::string preview;
  bool bench = false;
  int episodes = 16;
  int frames = 240;
  int size = 64;
  uint64_t seed = 1;
  int jobs = 0;
  int first_episode = 0;
  int zoom = 4;
  PolicyOptions policy;
};

[[noreturn]] void usage(const char* msg) {
  if (msg) std::fprintf(stderr, "oracle_dataset: %s\n", msg);
  std::fprintf(stderr,
               "usage: oracle_dataset --out DIR [--episodes N] [--frames F] [--size 64] [--seed S] [--jobs J]\n"
               "                      [--first-episode K] [--switch-percent P] [--max-switches N]\n"
               "       oracle_dataset --preview PREFIX [--size 64] [--seed S] [--zoom 4]\n"
               "       oracle_dataset --bench [--size 64] [--frames F]\n");
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + k).c_str());
      return argv[++i];
    };
    auto num = [&]() -> long long {
      const std::string v = val();
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (!end || *end || v.empty()) usage(("not a number for " + k + ": " + v).c_str());
      return n;
    };
    if (k == "--out") a.out = val();
    else if (k == "--preview") a.preview = val();
    else if (k == "--bench") a.bench = true;
    else if (k == "--episodes") a.episodes = static_cast<int>(num());
    else if (k == "--frames") a.frames = static_cast<int>(num());
    else if (k == "--size") a.size = static_cast<int>(num());
    else if (k == "--seed") a.seed = static_cast<uint64_t>(num());
    else if (k == "--jobs") a.jobs = static_cast<int>(num());
    else if (k == "--first-episode") a.first_episode = static_cast<int>(num());
    else if (k == "--zoom") a.zoom = static_cast<int>(num());
    else if (k == "--switch-percent") a.policy.switch_episode_p = num() / 100.0;
    else if (k == "--max-switches") a.policy.max_switches = static_cast<int>(num());
    else if (k == "-h" || k == "--help") usage(nullptr);
    else usage(("unknown option " + k).c_str());
  }
  if (a.out.empty() && a.preview.empty() && !a.bench) usage("one of --out, --preview, --bench is required");
  if (a.size < 8 || a.size > 512) usage("--size must be 8..512");
  if (a.frames < 1 || a.episodes < 0) usage("--frames must be >= 1 and --episodes >= 0");
  return a;
}

nlohmann::json script_prompts_json(const EpisodeScript& s) {
  nlohmann::json p = nlohmann::json::array();
  for (const PromptEvent& e : s.prompts) p.push_back({{"frame", e.frame}, {"text", e.text}, {"theme", theme_name(e.theme)}});
  return p;
}

// Renders one episode and writes DIR/episode_NNNNNN.safetensors.
nlohmann::json write_episode(const Args& a, int episode) {
  const EpisodeScript s = make_episode_script(a.seed, episode, a.frames, a.policy);
  OracleOptions opt;
  opt.width = opt.height = a.size;
  OracleGame game(opt);
  game.reset(s.world_seed, s.prompts.front().theme, s.start_x, s.start_y);

  const int F = a.frames, H = a.size, W = a.size;
  const size_t plane = static_cast<size_t>(H) * W;
  wl::Tensor frames = wl::Tensor::empty({F, 3, H, W}, wl::DType::F16);
  wl::Tensor actions = wl::Tensor::zeros({F, wl::kActionBitCount});
  wl::Tensor theme = wl::Tensor::zeros({F});
  wl::Tensor camera = wl::Tensor::zeros({F, 2});
  uint16_t lut[256];
  for (int i = 0; i < 256; ++i) lut[i] = wl::f32_to_f16(static_cast<float>(i) / 255.0f);

  std::vector<uint8_t> rgb(game.frame_bytes());
  size_t next_prompt = 1;
  uint16_t* fd = frames.data<uint16_t>();
  for (int f = 0; f < F; ++f) {
    while (next_prompt < s.prompts.size() && s.prompts[next_prompt].frame <= f) game.set_theme(s.prompts[next_prompt++].theme);
    const FrameActions& act = s.actions[static_cast<size_t>(f)];
    game.step(act, rgb.data());
    uint16_t* dst = fd + static_cast<size_t>(f) * 3 * plane;
    for (size_t i = 0; i < plane; ++i) {
      dst[i] = lut[rgb[i * 3 + 0]];
      dst[plane + i] = lut[rgb[i * 3 + 1]];
      dst[2 * plane + i] = lut[rgb[i * 3 + 2]];
    }
    for (int b = 0; b < wl::kActionBitCount; ++b)
      actions.f32()[f * wl::kActionBitCount + b] = act.held(kDatasetActionOrder[b]) ? 1.0f : 0.0f;
    theme.f32()[f] = static_cast<float>(static_cast<int>(game.theme()));
    camera.f32()[f * 2 + 0] = static_cast<float>(game.camera_x() - s.start_x);
    camera.f32()[f * 2 + 1] = static_cast<float>(game.camera_y() - s.start_y);
  }

  nlohmann::json themes = nlohmann::json::array(), names = nlohmann::json::array();
  for (int t = 0; t < kThemeCount; ++t) themes.push_back(theme_name(static_cast<Theme>(t)));
  for (const char* n : kDatasetActionNames) names.push_back(n);
  const nlohmann::json prompts = script_prompts_json(s);
  std::map<std::string, std::string> meta = {
      {"format", "worldloop-oracle-episode-v1"},
      {"prompts", prompts.dump()},
      {"themes", themes.dump()},
      {"actions", names.dump()},
      {"world_seed", std::to_string(s.world_seed)},
      {"start", nlohmann::json::array({s.start_x, s.start_y}).dump()},
      {"width", std::to_string(W)},
      {"height", std::to_string(H)},
      {"fps", "30"},
      {"move_texels", std::to_string(opt.move_texels)},
      {"look_texels", std::to_string(opt.look_texels)},
      {"pixels_per_texel", std::to_string(H / 64.0)},
      {"dataset_seed", std::to_string(a.seed)},
      {"episode", std::to_string(episode)},
  };
  char name[64];
  std::snprintf(name, sizeof name, "episode_%06d.safetensors", episode);
  const std::string path = (std::filesystem::path(a.out) / name).string();
  wl::write_safetensors(path, {{"frames", frames}, {"actions", actions}, {"theme", theme}, {"camera", camera}}, meta);
  return {{"file", name}, {"frames", F}, {"world_seed", std::to_string(s.world_seed)}, {"prompts", prompts}};
}

int run_dataset(const Args& a) {
  std::error_code ec;
  std::filesystem::create_directories(a.out, ec);
  if (!std::filesystem::is_directory(a.out)) {
    std::fprintf(stderr, "oracle_dataset: cannot create '%s'\n", a.out.c_str());
    return 1;
  }
  const int jobs = std::max(1, a.jobs > 0 ? a.jobs : static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<nlohmann::json> index(static_cast<size_t>(a.episodes));
  std::atomic<int> next{0}, done{0};
  std::mutex err_mu;
  std::string error;
  const auto t0 = std::chrono::steady_clock::now();
  auto worker = [&]() {
    for (;;) {
      const int i = next.fetch_add(1);
      if (i >= a.episodes) return;
      try {
        index[static_cast<size_t>(i)] = write_episode(a, a.first_episode + i);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (error.empty()) error = e.what();
        return;
      }
      const int d = done.fetch_add(1) + 1;
      if (d % 8 == 0 || d == a.episodes) {
        std::lock_guard<std::mutex> lock(err_mu);
        std::fprintf(stderr, "\roracle_dataset: %d/%d episodes", d, a.episodes);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int j = 0; j < jobs; ++j) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  std::fprintf(stderr, "\n");
  if (!error.empty()) {
    std::fprintf(stderr, "oracle_dataset: %s\n", error.c_str());
    return 1;
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json idx = {{"format", "worldloop-oracle-dataset-v1"},
                        {"seed", a.seed},
                        {"size", a.size},
                        {"frames_per_episode", a.frames},
                        {"episodes", index}};
  const std::string ipath = (std::filesystem::path(a.out) / "index.json").string();
  if (FILE* f = std::fopen(ipath.c_str(), "w")) {
    const std::string s = idx.dump(1);
    std::fwrite(s.data(), 1, s.size(), f);
    std::fclose(f);
  }
  std::printf("wrote %d episodes x %d frames (%dx%d) to %s in %.2f s (%.0f frames/s)\n", a.episodes, a.frames,
              a.size, a.size, a.out.c_str(), sec, a.episodes * static_cast<double>(a.frames) / sec);
  return 0;
}

// Blits a w x h RGB frame into a sheet at (x, y).
void blit(std::vector<uint8_t>& sheet, int sheet_w, const uint8_t* rgb, int w, int h, int x, int y) {
  for (int r = 0; r < h; ++r)
    std::memcpy(&sheet[(static_cast<size_t>(y + r) * sheet_w + x) * 3], rgb + static_cast<size_t>(r) * w * 3,
                static_cast<size_t>(w) * 3);
}

// Writes an RGB image scaled up `zoom` times (nearest neighbour).
bool write_zoomed_png(const std::string& path, const std::vector<uint8_t>& rgb, int w, int h, int zoom) {
  zoom = std::max(1, zoom);
  const int zw = w * zoom, zh = h * zoom;
  std::vector<uint8_t> out(static_cast<size_t>(zw) * zh * 3);
  for (int y = 0; y < zh; ++y)
    for (int x = 0; x < zw; ++x)
      std::memcpy(&out[(static_cast<size_t>(y) * zw + x) * 3], &rgb[(static_cast<size_t>(y / zoom) * w + x / zoom) * 3], 3);
  return stbi_write_png(path.c_str(), zw, zh, 3, out.data(), zw * 3) != 0;
}

int run_preview(const Args& a) {
  const int n = a.size, gap = 2;
  OracleOptions opt;
  opt.width = opt.height = n;
  OracleGame game(opt);
  std::vector<uint8_t> rgb(game.frame_bytes());
  // Sheet 1: rows = places, columns = themes (the same place re-themed).
  const int rows = 3;
  const int sw = kThemeCount * (n + gap) + gap, sh = rows * (n + gap) + gap;
  std::vector<uint8_t> sheet(static_cast<size_t>(sw) * sh * 3, 255);
  for (int r = 0; r < rows; ++r) {
    for (int t = 0; t < kThemeCount; ++t) {
      game.reset(a.seed, static_cast<Theme>(t), r * 1000, r * 700);
      game.set_time(20);
      game.render(rgb.data());
      blit(sheet, sw, rgb.data(), n, n, gap + t * (n + gap), gap + r * (n + gap));
    }
  }
  const std::string p1 = a.preview + "_themes.png";
  if (!write_zoomed_png(p1, sheet, sw, sh, a.zoom)) return 1;
  // Sheet 2: per theme, 8 consecutive frames while walking right+down (D then S+D).
  const int frames = 8;
  const int mw = frames * (n + gap) + gap, mh = kThemeCount * (n + gap) + gap;
  std::vector<uint8_t> strip(static_cast<size_t>(mw) * mh * 3, 255);
  for (int t = 0; t < kThemeCount; ++t) {
    game.reset(a.seed, static_cast<Theme>(t), 300, 300);
    for (int f = 0; f < frames; ++f) {
      FrameActions act;
      act.keys = f < 4 ? wl::kActRight : (wl::kActRight | wl::kActBack);
      game.step(act, rgb.data());
      blit(strip, mw, rgb.data(), n, n, gap + f * (n + gap), gap + t * (n + gap));
    }
  }
  const std::string p2 = a.preview + "_motion.png";
  if (!write_zoomed_png(p2, strip, mw, mh, a.zoom)) return 1;
  std::printf("wrote %s and %s\n", p1.c_str(), p2.c_str());
  return 0;
}

int run_bench(const Args& a) {
  OracleOptions opt;
  opt.width = opt.height = a.size;
  OracleGame game(opt);
  std::vector<uint8_t> rgb(game.frame_bytes());
  const int frames = std::max(a.frames, 200);
  const EpisodeScript s = make_episode_script(a.seed, 0, frames);
  uint64_t sink = 0;
  std::printf("{\"bench\":\"oracle_render\",\"size\":%d,\"results\":[", a.size);
  double total = 0;
  for (int t = 0; t < kThemeCount; ++t) {
    game.reset(s.world_seed, static_cast<Theme>(t), s.start_x, s.start_y);
    const auto t0 = std::chrono::steady_clock::now();
    for (int f = 0; f < frames; ++f) {
      game.step(s.actions[static_cast<size_t>(f)], rgb.data());
      sink += rgb[static_cast<size_t>(f) % rgb.size()];
    }
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total += sec;
    std::printf("%s{\"theme\":\"%s\",\"fps\":%.0f}", t ? "," : "", theme_name(static_cast<Theme>(t)), frames / sec);
  }
  std::printf("],\"fps\":%.0f,\"checksum\":%llu}\n", kThemeCount * frames / total,
              static_cast<unsigned long long>(sink));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    if (a.bench) return run_bench(a);
    if (!a.preview.empty()) {
      const int rc = run_preview(a);
      if (rc || a.out.empty()) return rc;
    }
    return run_dataset(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "oracle_dataset: %s\n", e.what());
    return 1;
  }
}
