// worldloop generate: runs the sampler over a whole video and writes its
// latents. Noise and the prompt context come from a safetensors file (the
// golden fixtures' case files have this form); flags default to its metadata.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/loop/dit_backend.h"
#include "cache/kv_store.h"
#include "cache/rolling_window_kv.h"
#include "runtime/core/error.h"
#include "runtime/model/world.h"
#include "runtime/model/causal_dit.h"
#include "runtime/model/memory_plan.h"
#include "runtime/model/noise_source.h"
#include "runtime/model/sampler.h"

namespace wl::app {
namespace {

const char* kUsage =
    "usage: worldloop generate --weights W.safetensors --noise N.safetensors --out O.safetensors\n"
    "         [--steps 1000,750,500,250] [--shift 5] [--chunk 3] [--frames F] [--mode chunk|rolling|mg2]\n"
    "         [--policy full|window|sink|observed|future] [--budget-frames B] [--sink-frames S]\n"
    "         [--attention-frames A] [--context-noise T] [--precision f32|bf16|auto] [--seed S]\n"
    "         [--backend cpu|cuda|auto] [--config config.json] [--max-memory SIZE]\n"
    "Reads `context` and the noise (noise.init, noise.step.{chunk}.{step} or noise.roll.{window}.{chunk})\n"
    "from N (--seed S draws seeded noise instead) and writes `latents [F, C, H, W]` to O. Flags default to\n"
    "N's metadata (steps, shift, chunk, frames, mode, cache_frames, sink_frames, attention_frames,\n"
    "context_noise). The model runs on the CPU unless --backend cuda (auto: CUDA when a device is usable,\n"
    "else the CPU). Mode mg2 (Matrix-Game 2.0) takes visual_context in place of context, cond_concat\n"
    "[F, 20, H, W] after each call's latents and one keyboard (and mouse) row per pixel frame; --config\n"
    "reads the model config from MG2's separate config.json.\n";

// A setting from the flag, else N's metadata, else the fallback.
std::string setting(const Args& args, const SafetensorsFile& n, const std::string& flag, const std::string& key,
                    const std::string& fallback) {
  if (args.has(flag)) return args.get(flag, fallback);
  auto it = n.metadata().find(key);
  return it == n.metadata().end() ? fallback : it->second;
}

int64_t to_int(const std::string& what, const std::string& text) {
  try {
    size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error(what + " expects an integer, got '" + text + "'");
}

double to_double(const std::string& what, const std::string& text) {
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error(what + " expects a number, got '" + text + "'");
}

}  // namespace

int cmd_generate(int argc, char** argv) {
  Args args(argc, argv,
            {"weights", "noise", "out", "steps", "shift", "chunk", "frames", "mode", "policy", "budget-frames",
             "sink-frames", "attention-frames", "context-noise", "precision", "seed", "backend", "config", "max-memory"},
            {"help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  SafetensorsFile noise_file = SafetensorsFile::open(args.require("noise"));
  const std::string out_path = args.require("out");
  const std::string precision = args.get("precision", "f32");
  DitOptions options;
  options.precision = ops::parse_precision(precision);
  if (args.has("max-memory")) options.max_memory_bytes = parse_memory_size(args.require("max-memory"));

  WeightMap weights = WeightMap::open(args.require("weights"));
  if (args.has("config")) {
    options.model_config_label = args.require("config");
    options.model_config = read_model_config_file(options.model_config_label);
  }
  const DitConfig config = DitConfig::from_weights(weights, options.model_config, options.model_config_label);

  SamplerSettings s;
  s.steps = FlowSchedule::parse_steps(setting(args, noise_file, "steps", "steps", "1000,750,500,250"));
  s.shift = to_double("--shift", setting(args, noise_file, "shift", "shift", "5"));
  s.chunk = to_int("--chunk", setting(args, noise_file, "chunk", "chunk", "3"));
  s.context_noise = static_cast<float>(to_double("--context-noise", setting(args, noise_file, "context-noise",
                                                                            "context_noise", "0")));
  // Checked here, where the flag or the noise file's metadata can be named
  // (a chunk of 0 used to end in a division by zero).
  auto bad = [&](const std::string& flag, const std::string& key, const std::string& value, const std::string& rule) {
    return Error("--" + flag + " " + value + " (or metadata '" + key + "' of " + noise_file.path() + ") " + rule);
  };
  if (s.chunk < 1 || s.chunk > 64) throw bad("chunk", "chunk", std::to_string(s.chunk), "must be 1..64 frames");
  if (!(std::isfinite(s.shift) && s.shift > 0.0))
    throw bad("shift", "shift", std::to_string(s.shift), "must be a positive number");
  if (!(s.context_noise >= 0.0f && s.context_noise <= 1000.0f))
    throw bad("context-noise", "context_noise", std::to_string(s.context_noise), "must be a timestep in 0..1000");
  const std::string mode = setting(args, noise_file, "mode", "mode", "chunk");
  const bool mg2 = mode == "mg2";  // Matrix-Game 2.0: chunk-wise, image context and pixel-frame actions
  if (mode == "chunk" || mg2) s.mode = SamplerMode::Chunk;
  else if (mode == "rolling") s.mode = SamplerMode::Rolling;
  else throw Error("--mode must be chunk, rolling or mg2, got '" + mode + "'");

  if (!noise_file.has("noise.init")) throw Error(noise_file.path() + ": missing tensor 'noise.init'");
  const TensorInfo& init = noise_file.info("noise.init");
  if (init.shape.size() != 4) throw Error(noise_file.path() + ": tensor 'noise.init' has shape " +
                                          shape_str(init.shape) + ", expected [F, C, H, W]");
  s.height = init.shape[2];
  s.width = init.shape[3];
  const int64_t frames = to_int("--frames", setting(args, noise_file, "frames", "frames",
                                                    std::to_string(init.shape[0])));
  if (frames <= 0 || frames % s.chunk)
    throw Error("--frames " + std::to_string(frames) + " is not a positive multiple of the chunk " +
                std::to_string(s.chunk));
  const int64_t chunks = frames / s.chunk;
  s.total_chunks = chunks;
  const int64_t budget = to_int("--budget-frames", setting(args, noise_file, "budget-frames", "cache_frames",
                                                           std::to_string(frames)));
  if (budget < 1 || budget > kMaxBudgetFrames)
    throw Error("--budget-frames " + std::to_string(budget) + " (or metadata 'cache_frames' of " + noise_file.path() +
                ") must be in 1.." + std::to_string(kMaxBudgetFrames));
  const int64_t sink = to_int("--sink-frames", setting(args, noise_file, "sink-frames", "sink_frames", "0"));
  s.sink_frames = sink;

  // A rolling call denoises a window of len(steps) chunks.
  options.backend = parse_backend_flag(args.get("backend", "cpu"));
  const int64_t largest = s.mode == SamplerMode::Rolling ? s.chunk * static_cast<int64_t>(s.steps.size()) : s.chunk;
  check_dit_memory(config, options, dit_cache_config(config, s.height, s.width, budget, sink, options.backend),
                   {largest, s.height, s.width}, "--budget-frames");
  CausalDit model(weights, options);
  cache::KvStore store(model.cache_config(s.height, s.width, budget, sink),
                       cache::make_policy(args.get("policy", "full")));
  std::unique_ptr<cache::RollingWindowKv> rolling;
  if (s.mode == SamplerMode::Rolling)
    rolling = std::make_unique<cache::RollingWindowKv>(
        store, s.chunk, to_int("--attention-frames", setting(args, noise_file, "attention-frames",
                                                             "attention_frames", std::to_string(budget))));
  cache::KvAccess& kv = rolling ? static_cast<cache::KvAccess&>(*rolling) : store;

  std::unique_ptr<NoiseSource> noise;
  if (args.has("seed")) {
    const long long seed = args.get_int("seed", 0);
    if (seed < 0) throw Error("--seed needs an integer >= 0, got " + std::to_string(seed) + " (as play's --seed)");
    noise = std::make_unique<SeededNoise>(static_cast<uint64_t>(seed));
  }
  else noise = std::make_unique<RecordedNoise>(noise_file);

  if (mg2 != !model.config().action_blocks.empty())
    throw Error(noise_file.path() + ": mode " + mode + " does not fit " + weights.path() +
                (mg2 ? ", which has no action module" : ", a Matrix-Game 2.0 model (mode mg2)"));
  const char* context_name = mg2 ? "visual_context" : "context";
  if (!noise_file.has(context_name)) throw Error(noise_file.path() + ": missing tensor '" + context_name + "'");
  Sampler sampler(model, kv, *noise, s);
  sampler.set_prompt(noise_file.get_f32(context_name));
  if (mg2) {
    for (const char* name : {"cond_concat", "keyboard"})
      if (!noise_file.has(name)) throw Error(noise_file.path() + ": mode mg2 needs tensor '" + name + "'");
    sampler.set_image_condition(noise_file.get_f32("cond_concat"));
    sampler.set_pixel_actions(noise_file.get_f32("keyboard"),
                              noise_file.has("mouse") ? noise_file.get_f32("mouse") : Tensor());
  }

  Tensor latents = Tensor::empty({frames, model.config().out_dim, s.height, s.width});  // [F, C, H, W]
  const int64_t per_chunk = latents.numel() / chunks;
  for (int64_t c = 0; c < chunks; ++c) {
    Tensor x0 = sampler.next_chunk();
    std::copy(x0.f32(), x0.f32() + per_chunk, latents.f32() + c * per_chunk);
  }
  write_safetensors(out_path, {{"latents", latents}},
                    {{"frames", std::to_string(frames)}, {"mode", mode}, {"policy", store.policy().name()}});
  std::printf("generate: %lld frames -> %s\n", static_cast<long long>(frames), out_path.c_str());
  return 0;
}

}  // namespace wl::app
