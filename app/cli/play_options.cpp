#include "app/cli/play_options.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "app/record/frame_writer.h"
#include "cache/cache_policy.h"
#include "runtime/core/error.h"
#include "runtime/model/memory_plan.h"
#include "runtime/model/world.h"

namespace wl::app {

namespace {

// "full|window|..." or "full, window, ... or future": the registry's names.
std::string policy_list(const char* sep, const char* last_sep) {
  const std::vector<std::string> names = cache::policy_names();
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? last_sep : sep) + names[i];
  return s;
}

}  // namespace

const char* play_usage() {
  static const std::string usage = std::string("usage: worldloop play [options]\n"
         "  --model PATH          world package or published model directory to play (default:\n"
         "                        the shipped world; 'oracle' plays the oracle game, 'test-pattern'\n"
         "                        a test pattern); a published model: see the README\n"
         "  --weights-key K       published model: the checkpoint's container (generator_ema, ...)\n"
         "  --lora FILE[:SCALE]   published model: merge a LoRA at load (repeatable)\n"
         "  --lora-alpha A        published model: the LoRA's alpha (default: model.json, else the rank)\n"
         "  --text-device D       published model: cpu|cuda, where the umT5 encoder runs (default cpu)\n"
         "  --decoder D           published model: vae|taehv|preview, the pixel decoder shown (default:\n"
         "                        model.json's, else TAEHV when the directory has it, else the VAE)\n"
         "  --vae-stream S        pipeline|demo: the VAE's streaming semantics (default pipeline)\n"
         "  --taehv-stream S      carried|demo: TAEHV's (default carried)\n"
         "  --decode-overlap M    auto|on|off: the pixel decoder on a thread of its own, decoding a\n"
         "                        chunk while the DiT denoises the next (auto: on when the DiT runs\n"
         "                        on CUDA); the frames are the same, one chunk later\n"
         "  --prompt TEXT         initial prompt (default: the config's default_prompt)\n"
         "  --policy P            cache policy: ") + policy_list("|", "|") + " (default: the world's)\n" +
         std::string(
         "  --budget-frames N     cache budget in latent frames, 1..4096 (default: the world's)\n"
         "  --max-memory SIZE     refuse a model and cache budget whose memory plan exceeds SIZE\n"
         "                        (8G, 512M, 1.5G; default: what the machine has available)\n"
         "  --allow-external-paths  the files that world.json or model.json names may lie outside\n"
         "                        its folder (absolute paths, .., symlinks); refused otherwise\n"
         "  --backend B           auto|cpu|cuda: where the world computes (auto: CUDA when a\n"
         "                        device is usable); with CUDA and a window, frames reach the\n"
         "                        presenter in GPU memory\n"
         "  --precision P         auto|f32|bf16: the DiT's matrix products (auto: bf16 where the\n"
         "                        processor has bf16 instructions, else f32; bf16 without them is\n"
         "                        emulated with the same numbers, slower)\n"
         "  --threads N|auto      CPU threads for the model (auto: as many as the other processes\n"
         "                        leave free, re-checked while playing; OMP_NUM_THREADS fixes it too)\n"
         "  --frames N            exit after N presented frames\n"
         "  --screenshot FILE.png write the last presented image (overlay included unless hidden)\n"
         "  --no-overlay          start with the overlay hidden (F1 shows it)\n"
         "  --vk-validation       Vulkan's validation layer on (vulkan-validationlayers; debug builds\n"
         "                        always); its warnings and errors go to stderr as 'vulkan: ...'\n"
         "  --record PATH         record frames: a directory (PNGs), FILE.y4m or FILE.mp4 (H.264)\n"
         "  --record-scale N      record N times the world's size (1..16; default 1)\n"
         "  --record-filter F     nearest|linear: how --record-scale enlarges (default nearest)\n"
         "  --actions FILE.json   scripted input keyed by frame (see app/loop/action_script.h)\n"
         "  --save-state-at K FILE  write the world's state after K frames (0..) to FILE\n"
         "  --load FILE           continue a saved state (F5 saves one in the window, F8 loads it);\n"
         "                        its seed, prompt and cache come with it\n"
         "  --record-inputs DIR   write the run's inputs to DIR/inputs.json for --replay\n"
         "  --replay DIR          play DIR's recorded inputs again, with --headless: the same frames\n"
         "                        byte for byte on the same build and backend\n"
         "  --headless            no window (use with --record; progress on a terminal)\n"
         "  --seed N              world seed (default 0)\n"
         "  --config FILE         key bindings and presets (JSON; written with defaults if missing)\n"
         "  --vsync on|off        FIFO presentation (on) or MAILBOX/IMMEDIATE (off)\n"
         "keys (defaults): W/A/S/D move, arrows look, P pause, N step, R reset, 1-9 presets,\n"
         "  F1 overlay, F9 record, F12 screenshot, Esc quit; Enter in the prompt box switches prompt\n");
  return usage.c_str();
}

namespace {

int64_t parse_int(std::string_view flag, std::string_view s, int64_t lo) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo)
    throw std::invalid_argument(std::string(flag) + " needs an integer >= " + std::to_string(lo) + ", got '" +
                                std::string(s) + "'");
  return v;
}

}  // namespace

PlayOptions parse_play_options(int argc, char** argv) {
  PlayOptions o;
  std::vector<std::string> state_conflicts;  // flags a loaded state overrides
  std::vector<std::string> replay_conflicts;  // and flags an input log fixes
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--seed" || a == "--prompt" || a == "--policy" || a == "--budget-frames")
      state_conflicts.emplace_back(a);
    if (a == "--model" || a == "--precision" || a == "--load" || a == "--actions") replay_conflicts.emplace_back(a);
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") o.help = true;
    else if (a == "--model") o.model = value();
    else if (a == "--prompt") o.prompt = std::string(value());
    else if (a == "--weights-key") o.weights_key = value();
    else if (a == "--lora") o.loras.emplace_back(value());
    else if (a == "--lora-alpha") {
      const std::string v(value());
      char* end = nullptr;
      const float alpha = std::strtof(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(alpha > 0))
        throw std::invalid_argument("--lora-alpha needs a number > 0, got '" + v + "'");
      o.lora_alpha = alpha;
    } else if (a == "--decoder") {
      o.decoder = value();
      if (o.decoder != "vae" && o.decoder != "taehv" && o.decoder != "preview")
        throw std::invalid_argument("--decoder must be vae, taehv or preview, got '" + o.decoder + "'");
    } else if (a == "--vae-stream" || a == "--taehv-stream") {
      const std::string s(value());
      const char* first = a == "--vae-stream" ? "pipeline" : "carried";
      if (s != first && s != "demo")
        throw std::invalid_argument(std::string(a) + " must be " + first + " or demo, got '" + s + "'");
      o.decoder_stream = s;
    } else if (a == "--decode-overlap") {
      o.decode_overlap = value();
      if (o.decode_overlap != "auto" && o.decode_overlap != "on" && o.decode_overlap != "off")
        throw std::invalid_argument("--decode-overlap must be auto, on or off, got '" + o.decode_overlap + "'");
    } else if (a == "--text-device") {
      o.text_device = value();
      if (o.text_device != "cpu" && o.text_device != "cuda")
        throw std::invalid_argument("--text-device must be cpu or cuda, got '" + o.text_device + "'");
    }
    else if (a == "--policy") {
      o.policy = value();
      const std::vector<std::string> names = cache::policy_names();
      if (std::find(names.begin(), names.end(), o.policy) == names.end())
        throw std::invalid_argument("--policy must be " + policy_list(", ", " or ") + ", got '" + o.policy + "'");
    } else if (a == "--budget-frames") {
      o.budget_frames = parse_int(a, value(), 1);  // 0 used to mean "the world's" silently: leave the flag out for that
      if (o.budget_frames > kMaxBudgetFrames)
        throw std::invalid_argument("--budget-frames must be 1.." + std::to_string(kMaxBudgetFrames) + ", got " +
                                    std::to_string(o.budget_frames));
    } else if (a == "--max-memory") {
      try {
        o.max_memory_bytes = parse_memory_size(std::string(value()));
      } catch (const Error& e) {
        throw std::invalid_argument(e.what());
      }
    } else if (a == "--allow-external-paths") o.allow_external_paths = true;
    else if (a == "--backend") {
      o.backend = value();
      if (o.backend != "auto" && o.backend != "cpu" && o.backend != "cuda")
        throw std::invalid_argument("--backend must be auto, cpu or cuda, got '" + o.backend + "'");
    } else if (a == "--precision") {
      o.precision = value();
      if (o.precision != "auto" && o.precision != "f32" && o.precision != "bf16")
        throw std::invalid_argument("--precision must be auto, f32 or bf16, got '" + o.precision + "'");
    } else if (a == "--threads") {
      const std::string_view v = value();
      o.threads = v == "auto" ? 0 : static_cast<int>(parse_int(a, v, 1));
      if (o.threads > kMaxThreads)
        throw std::invalid_argument("--threads must be auto or 1.." + std::to_string(kMaxThreads) + ", got '" +
                                    std::string(v) + "'");
    } else if (a == "--frames") o.frames = parse_int(a, value(), 1);
    else if (a == "--screenshot") o.screenshot = value();
    else if (a == "--no-overlay") o.overlay = false;
    else if (a == "--vk-validation") o.vk_validation = true;
    else if (a == "--record") o.record = value();
    else if (a == "--record-scale") {
      o.record_scale = static_cast<int>(parse_int(a, value(), 1));
      if (o.record_scale > kMaxRecordScale)
        throw std::invalid_argument("--record-scale must be 1.." + std::to_string(kMaxRecordScale) + ", got " +
                                    std::to_string(o.record_scale));
    } else if (a == "--record-filter") {
      o.record_filter = value();
      if (o.record_filter != "nearest" && o.record_filter != "linear")
        throw std::invalid_argument("--record-filter must be nearest or linear, got '" + o.record_filter + "'");
    }
    else if (a == "--actions") o.actions = value();
    else if (a == "--save-state-at") {
      o.save_state_at = parse_int(a, value(), 0);
      o.save_state_path = value();
      check_output_file(o.save_state_path, "the world state");
    } else if (a == "--load") o.load_state = value();
    else if (a == "--record-inputs") o.record_inputs = value();
    else if (a == "--replay") o.replay = value();
    else if (a == "--headless") o.headless = true;
    else if (a == "--seed") o.seed = static_cast<uint64_t>(parse_int(a, value(), 0));
    else if (a == "--config") o.config = value();
    else if (a == "--vsync") {
      const std::string_view v = value();
      if (v != "on" && v != "off") throw std::invalid_argument("--vsync must be on or off");
      o.vsync = v == "on";
    } else {
      throw std::invalid_argument("unknown option '" + std::string(a) + "' (see 'worldloop play --help')");
    }
  }
  if (!o.screenshot.empty()) check_output_file(o.screenshot, "the screenshot");
  if (!o.replay.empty()) {
    if (!o.headless) throw std::invalid_argument("--replay plays in lockstep; add --headless");
    if (!state_conflicts.empty() || !replay_conflicts.empty())
      throw std::invalid_argument("--replay takes the world, seed, prompt, cache and inputs from its log; drop " +
                                  (state_conflicts.empty() ? replay_conflicts : state_conflicts).front());
  }
  if (!o.load_state.empty() && !state_conflicts.empty())
    throw std::invalid_argument("--load continues the state's own seed, prompt and cache; drop " +
                                state_conflicts.front());
  if (o.headless && !o.screenshot.empty())
    throw std::invalid_argument("--screenshot needs a window (it captures the overlay); drop --headless");
  if (o.headless && !o.overlay) throw std::invalid_argument("--no-overlay needs a window; drop --headless");
  if (o.headless && o.frames < 0 && o.replay.empty())
    throw std::invalid_argument("--headless needs --frames N (there is no window to quit from)");
  return o;
}

}  // namespace wl::app
