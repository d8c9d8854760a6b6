// worldloop dit-replay: runs every recorded forward call of a case file through
// the model with one KV cache carried across calls and writes each call's flow.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/loop/dit_backend.h"
#include "cache/rolling_window_kv.h"
#include "runtime/core/error.h"
#include "runtime/model/world.h"
#include "runtime/model/causal_dit.h"
#include "runtime/model/memory_plan.h"
#include "runtime/core/safetensors.h"

namespace wl::app {
namespace {

const char* kUsage =
    "usage: worldloop dit-replay --weights W.safetensors --calls C.safetensors --out O.safetensors\n"
    "                            [--precision f32|bf16|auto] [--backend cpu|cuda|auto] [--config config.json]\n"
    "                            [--max-memory SIZE]\n"
    "Runs call.{i} of C in order (x, t, start_frame) with one KV cache (capacity and sink from C's\n"
    "metadata cache_frames and sink_frames) and writes call.{i}.flow to O. Products run in f32 unless\n"
    "--precision bf16; the model runs on the CPU unless --backend cuda (auto: CUDA when a device is\n"
    "usable, else the CPU). Cases with metadata mode=rolling replay Rolling Forcing's window calls and\n"
    "cache updates (call.{i}.update) with its re-anchored sink (chunk and attention_frames from C).\n"
    "Cases with mode=mg2 replay Matrix-Game 2.0: visual_context is the image context, each call gets\n"
    "cond_concat[start:start+f] after its latents and keyboard/mouse rows 0..call.{i}.action_rows-1.\n"
    "--config takes the model config from a separate config.json (MG2's published layout) instead of\n"
    "W's __metadata__.config.\n";

int64_t metadata_int(const SafetensorsFile& f, const std::string& key, int64_t fallback) {
  auto it = f.metadata().find(key);
  if (it == f.metadata().end()) return fallback;
  try {
    size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument(key);
    return v;
  } catch (const std::exception&) {
    throw Error(f.path() + ": metadata '" + key + "' is not an integer: '" + it->second + "'");
  }
}

// Rows [0, n) of a [N, C] tensor of the case, or an undefined tensor when absent.
Tensor leading_rows(const SafetensorsFile& f, const std::string& name, int64_t n) {
  if (!f.has(name)) return Tensor();
  const Tensor all = f.get_f32(name);  // [N, C]
  if (all.rank() != 2 || n > all.dim(0))
    throw Error(f.path() + ": tensor '" + name + "' has shape " + shape_str(all.shape()) + ", a call needs " +
                std::to_string(n) + " rows");
  std::vector<float> v = all.to_floats();
  v.resize(static_cast<size_t>(n * all.dim(1)));
  return Tensor::from_floats(v, {n, all.dim(1)});
}

// MG2's 36 input channels: the call's latents [f, 16, H, W], then cond_concat[s:s+f] [f, 20, H, W].
Tensor with_cond_concat(const SafetensorsFile& f, const Tensor& x, int64_t start) {
  if (!f.has("cond_concat")) throw Error(f.path() + ": mode mg2 needs tensor 'cond_concat'");
  const Tensor cond = f.get_f32("cond_concat");  // [F, 20, H, W]
  const int64_t n = x.dim(0), cx = x.dim(1), cc = cond.rank() == 4 ? cond.dim(1) : 0, plane = x.dim(2) * x.dim(3);
  if (cond.rank() != 4 || cond.dim(2) != x.dim(2) || cond.dim(3) != x.dim(3) || start + n > cond.dim(0))
    throw Error(f.path() + ": tensor 'cond_concat' has shape " + shape_str(cond.shape()) + ", which does not cover "
                "frames " + std::to_string(start) + ".." + std::to_string(start + n - 1) + " of " +
                shape_str(x.shape()));
  Tensor out = Tensor::empty({n, cx + cc, x.dim(2), x.dim(3)});  // [f, 36, H, W]
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(x.f32() + i * cx * plane, cx * plane, out.f32() + i * (cx + cc) * plane);
    std::copy_n(cond.f32() + (start + i) * cc * plane, cc * plane, out.f32() + (i * (cx + cc) + cx) * plane);
  }
  return out;
}

int64_t count_calls(const SafetensorsFile& f) {
  int64_t n = 0;
  while (f.has("call." + std::to_string(n) + ".x")) ++n;
  return n;
}

}  // namespace

int cmd_dit_replay(int argc, char** argv) {
  Args args(argc, argv, {"weights", "calls", "out", "precision", "backend", "config", "max-memory"}, {"help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const std::string precision = args.get("precision", "f32");
  DitOptions options;
  options.precision = ops::parse_precision(precision);
  if (args.has("max-memory")) options.max_memory_bytes = parse_memory_size(args.require("max-memory"));
  if (args.has("config")) {
    options.model_config_label = args.require("config");
    options.model_config = read_model_config_file(options.model_config_label);
  }

  WeightMap weights = WeightMap::open(args.require("weights"));
  SafetensorsFile calls = SafetensorsFile::open(args.require("calls"));
  const std::string out_path = args.require("out");
  std::string mode = "chunk";
  if (auto it = calls.metadata().find("mode"); it != calls.metadata().end()) mode = it->second;
  if (mode != "chunk" && mode != "rolling" && mode != "mg2")
    throw Error(calls.path() + ": metadata mode '" + mode + "' is not chunk, rolling or mg2");

  const int64_t n = count_calls(calls);
  if (n == 0) throw Error(calls.path() + ": no call.0.x tensor");
  const int64_t declared = metadata_int(calls, "calls", n);
  if (declared != n)
    throw Error(calls.path() + ": metadata says " + std::to_string(declared) + " calls, file holds " +
                std::to_string(n));

  const Tensor x0 = calls.get("call.0.x");
  if (x0.rank() != 4) throw Error(calls.path() + ": tensor 'call.0.x' has shape " + shape_str(x0.shape()) +
                                  ", expected [f, C, H, W]");
  const int64_t capacity = metadata_int(calls, "cache_frames", 0);
  const int64_t sink = metadata_int(calls, "sink_frames", 0);
  if (capacity <= 0) throw Error(calls.path() + ": metadata 'cache_frames' missing or not positive");
  if (capacity > kMaxBudgetFrames || sink < 0 || sink > capacity)
    throw Error(calls.path() + ": metadata cache_frames " + std::to_string(capacity) + " / sink_frames " +
                std::to_string(sink) + " must be 1.." + std::to_string(kMaxBudgetFrames) + " and 0..cache_frames");

  options.backend = parse_backend_flag(args.get("backend", "cpu"));
  int64_t largest = 0;  // frames of the largest call
  for (int64_t i = 0; i < n; ++i) {
    const Shape& shape = calls.info("call." + std::to_string(i) + ".x").shape;
    if (!shape.empty()) largest = std::max(largest, shape[0]);
  }
  const DitConfig config = DitConfig::from_weights(weights, options.model_config, options.model_config_label);
  check_dit_memory(config, options, dit_cache_config(config, x0.dim(2), x0.dim(3), capacity, sink, options.backend),
                   {largest, x0.dim(2), x0.dim(3)}, "the case's cache_frames");
  CausalDit model(weights, options);
  cache::KvStore store(model.cache_config(x0.dim(2), x0.dim(3), capacity, sink), cache::make_policy("full"));
  std::unique_ptr<cache::RollingWindowKv> rolling;
  if (mode == "rolling")
    rolling = std::make_unique<cache::RollingWindowKv>(store, metadata_int(calls, "chunk", 3),
                                                       metadata_int(calls, "attention_frames", capacity));
  cache::KvAccess& cache = rolling ? static_cast<cache::KvAccess&>(*rolling) : store;

  const bool mg2 = mode == "mg2";
  if (mg2 != !model.config().action_blocks.empty())
    throw Error(calls.path() + ": mode " + mode + " does not fit " + weights.path() +
                (mg2 ? ", which has no action module" : ", a Matrix-Game 2.0 model (mode mg2)"));
  const char* context_name = mg2 ? "visual_context" : "context";
  if (!calls.has(context_name)) throw Error(calls.path() + ": missing tensor '" + context_name + "'");
  model.set_prompt(calls.get_f32(context_name));

  std::vector<std::pair<std::string, Tensor>> flows;
  for (int64_t i = 0; i < n; ++i) {
    const std::string pre = "call." + std::to_string(i) + ".";
    for (const char* part : {"t", "start_frame"})
      if (!calls.has(pre + part)) throw Error(calls.path() + ": missing tensor '" + pre + part + "'");
    Tensor x = calls.get_f32(pre + "x");
    PixelFrameActions pixel_actions;
    std::vector<float> t = calls.get_f32(pre + "t").to_floats();
    std::vector<float> start = calls.get_f32(pre + "start_frame").to_floats();
    if (start.size() != 1) throw Error(calls.path() + ": tensor '" + pre + "start_frame' must hold one value");
    // A cache update is flagged in rolling cases; in chunk cases it is the clean pass.
    bool update = std::all_of(t.begin(), t.end(), [](float v) { return v == 0.0f; });
    if (calls.has(pre + "update")) update = calls.get_f32(pre + "update").to_floats().at(0) != 0.0f;
    if (mg2) {
      if (!calls.has(pre + "action_rows")) throw Error(calls.path() + ": missing tensor '" + pre + "action_rows'");
      const int64_t rows = static_cast<int64_t>(calls.get_f32(pre + "action_rows").to_floats().at(0));
      if (rows < 1) throw Error(calls.path() + ": tensor '" + pre + "action_rows' must be at least 1");
      if (x.rank() != 4) throw Error(calls.path() + ": tensor '" + pre + "x' is not [f, C, H, W]");
      x = with_cond_concat(calls, x, static_cast<int64_t>(start[0]));
      pixel_actions.keyboard = leading_rows(calls, "keyboard", rows);
      pixel_actions.mouse = leading_rows(calls, "mouse", rows);
      if (!pixel_actions.keyboard.defined()) throw Error(calls.path() + ": mode mg2 needs tensor 'keyboard'");
    }
    try {
      flows.emplace_back(pre + "flow", model.forward(x, t, static_cast<int64_t>(start[0]), cache, update, Tensor(),
                                                       mg2 ? &pixel_actions : nullptr));
    } catch (const Error& e) {
      throw Error(calls.path() + ": " + pre.substr(0, pre.size() - 1) + ": " + e.what());
    }
  }
  write_safetensors(out_path, flows, {{"calls", std::to_string(n)}, {"precision", options.precision == ops::MatmulPrecision::BF16 ? "bf16" : "f32"}});
  std::printf("dit-replay: %lld calls -> %s\n", static_cast<long long>(n), out_path.c_str());
  return 0;
}

}  // namespace wl::app
