#include "runtime/model/published_model.h"

#include <filesystem>
#include <mutex>

#include "runtime/core/error.h"
#include "runtime/model/latent_preview.h"
#include "runtime/model/latent_video_decoder.h"
#include "runtime/model/memory_plan.h"
#include "runtime/model/prompt_cache.h"
#include "runtime/model/umt5.h"
#include "runtime/model/umt5_tokenizer.h"

namespace wl {
namespace fs = std::filesystem;
namespace {

constexpr int kVaeSpatial = 8;   // Wan 2.1 VAE: pixels per latent pixel along each side
constexpr int kVaeTemporal = 4;  // pixel frames per latent frame (after the first)

// umT5 as the world's prompt encoder. A prompt is encoded once and kept in
// memory and on disk (prompt_cache.h); switching back to it costs a lookup.
class Umt5PromptEncoder final : public PromptEncoder {
 public:
  Umt5PromptEncoder(const WeightMap& weights, const std::string& tokenizer_path, ops::MatmulPrecision precision,
                    Backend on, const std::string& cache_dir)
      : tokenizer_(tokenizer_path), encoder_(weights, precision, on), cache_(cache_dir) {}
  int64_t width() const override { return encoder_.config().dim; }
  Tensor context(const std::string& text) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return cache_.get(encoder_, tokenizer_, text).context;  // [text_len, dim], rows past the prompt zero
  }

 private:
  Umt5Tokenizer tokenizer_;
  Umt5Encoder encoder_;
  mutable std::mutex mutex_;
  mutable PromptEmbeddingCache cache_;
};

std::string need(const ModelManifest& m, const std::string& role, const char* what) {
  const std::string path = m.path(role);
  if (path.empty())
    throw Error(m.dir + ": no " + what + " (files." + role + " in model.json; see the README, \"Playing a published model\")");
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path + ": missing (" + what + ", files." + role + ")");
  return path;
}

}  // namespace

bool is_published_model_dir(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && !fs::exists(fs::path(dir) / "world.json", ec);
}

std::unique_ptr<World> open_published_model(const std::string& dir, const PublishedModelOptions& options,
                                            std::vector<std::string>* log) {
  ModelManifest m = ModelManifest::open(dir, options.allow_external_paths);
  if (!options.weights_key.empty()) m.weights_key = options.weights_key;
  m.loras.insert(m.loras.end(), options.loras.begin(), options.loras.end());
  const ModelFamily f = m.sampling();
  std::vector<std::string> notes = m.notes;
  const std::string where = fs::exists(fs::path(dir) / "model.json") ? (fs::path(dir) / "model.json").string() : dir;
  // The DiT's container, and the LoRAs merged into it at load (runtime/core/lora.h).
  WeightOptions dit_options;
  dit_options.weights_key = f.weights_key;
  for (const LoraFile& l : m.loras) {
    const fs::path p(l.file);
    dit_options.loras.push_back(LoraInput{p.is_absolute() ? p.string() : (fs::path(dir) / p).string(), l.scale});
    if (l.alpha && dit_options.lora_alpha && *dit_options.lora_alpha != *l.alpha)
      throw Error(where + ": the LoRAs give different alphas (" + std::to_string(*dit_options.lora_alpha) + ", " +
                  std::to_string(*l.alpha) + "); one alpha applies to all of them");
    if (l.alpha) dit_options.lora_alpha = *l.alpha;
  }

  WorldParts parts;
  auto weights = [&](const std::string& path, const WeightOptions& wo = {}) -> const WeightMap& {
    parts.weights.push_back(std::make_unique<WeightMap>(WeightMap::open(path, wo)));
    parts.weights.back()->require_finite();  // NaN weights would play black frames with no error
    return *parts.weights.back();
  };
  const WeightMap& dit_weights = weights(need(m, "dit", "DiT checkpoint"), dit_options);
  for (const std::string& line : dit_weights.merged_loras()) notes.push_back(line);
  const WeightMap& text_weights = weights(need(m, "text_encoder", "umT5 text encoder (models_t5_umt5-xxl-enc-bf16.pth)"));
  const std::string tokenizer = need(m, "tokenizer", "umT5 tokenizer (google/umt5-xxl/spiece.model)");

  // Plan the memory from the configurations before any weight is read, so a
  // plan that cannot fit is refused with its numbers, not by a failed allocation.
  const DitConfig dc = DitConfig::from_weights(dit_weights);
  const int64_t lh = m.height / kVaeSpatial, lw = m.width / kVaeSpatial;
  // A rolling call denoises a window of len(steps) chunks at once.
  const int64_t largest_call_frames =
      f.mode == SamplerMode::Rolling ? f.chunk * static_cast<int64_t>(f.steps.size()) : f.chunk;
  MemoryPlan plan = plan_dit_memory(dc, options.dit.precision,
                                    dit_cache_config(dc, lh, lw, f.budget_frames, f.sink_frames, options.dit.backend),
                                    DitCallShape{largest_call_frames, lh, lw});
  add_text_encoder(plan, umt5_config(text_weights), options.dit.precision, options.text_backend == Backend::CUDA);
  const bool on_cuda = options.dit.backend == Backend::CUDA;
  if (on_cuda) {
    print_device_memory_plan(plan);
  } else {
    int64_t dit_bytes = 0;  // the plan's rows but the CUDA libraries' allowances
    for (const MemoryPlanRow& r : plan.rows)
      if (!is_cuda_only_row(r)) dit_bytes += r.bytes;
    const Umt5Bytes tb = umt5_memory_bytes(umt5_config(text_weights), options.dit.precision);
    notes.push_back("host memory: about " + std::to_string((dit_bytes >> 20) + 1) + " MiB for the DiT (" + dc.describe() +
                    "), its cache and activations, " + std::to_string((tb.total() >> 20) + 1) + " MiB for umT5");
  }
  // --max-memory, and what the device or the machine has free, before any weight is read.
  check_memory_limits(plan, options.dit.backend, options.dit.max_memory_bytes,
                      on_cuda ? "cache.budget_frames in model.json (or --budget-frames), --text-device cpu"
                              : "cache.budget_frames in model.json (or --budget-frames)");

  parts.dit = std::make_unique<CausalDit>(dit_weights, options.dit);
  parts.prompt_encoder = std::make_unique<Umt5PromptEncoder>(text_weights, tokenizer, options.dit.precision,
      options.text_backend, options.text_cache_dir ? *options.text_cache_dir : PromptEmbeddingCache::default_dir());
  parts.decoder = std::make_unique<LatentPreview>(options.dit.backend);
  // The shown frames: a Wan pixel decoder from the directory, or the preview.
  std::string use = options.decoder.empty() ? m.decoder : options.decoder;
  if (use.empty()) use = !m.path("taehv").empty() ? "taehv" : !m.path("vae").empty() ? "vae" : "preview";
  if (use != "vae" && use != "taehv" && use != "preview")
    throw Error(where + ": decoder '" + use + "' is not vae, taehv or preview");
  if (use == "preview") {
    if (!options.decoder_stream.empty() || !m.decoder_stream.empty())
      throw Error(where + ": a decoder stream is given, but the decoder is the latent preview");
    notes.push_back(m.path("vae").empty() && m.path("taehv").empty()
                        ? "no pixel decoder in the directory: frames are the latent preview (16 channels to RGB, at latent size)"
                        : "frames are the latent preview (16 channels to RGB, at latent size), as asked");
  } else {
    if (m.path(use).empty())
      throw Error(where + ": decoder '" + use + "' asked for, but the directory has no " +
                  (use == "vae" ? "Wan2.1_VAE.pth" : "taew2_1.pth / taew2_1.safetensors"));
    const std::string stream = options.decoder_stream.empty() ? m.decoder_stream : options.decoder_stream;
    const char* allowed = use == "vae" ? "pipeline" : "carried";
    if (!stream.empty() && stream != allowed && stream != "demo")
      throw Error(where + ": the " + use + " decoder's stream '" + stream + "' is not " + allowed + " or demo");
    const WeightMap& dw = weights(m.path(use));
    if (detect_latent_decoder(dw) != (use == "vae" ? LatentDecoderKind::Vae : LatentDecoderKind::Taehv))
      throw Error(m.path(use) + ": not a " + (use == "vae" ? "Wan 2.1 VAE" : "TAEHV") + " decoder, as its role says");
    parts.video_decoder = std::make_unique<LatentVideoDecoder>(dw, LatentVideoDecoderOptions{stream == "demo"});
    notes.push_back("frames: " + parts.video_decoder->describe() + " from " + m.files.at(use) +
                    ", on the CPU in f32, after the DiT (not overlapped)");
  }

  WorldDescription d;
  d.dir = dir;
  d.name = f.label + " (" + fs::path(m.files.at("dit")).filename().string() + ")";
  d.latent_channels = parts.dit->config().in_dim;
  d.latent_height = m.height / kVaeSpatial;
  d.latent_width = m.width / kVaeSpatial;
  const int64_t up = parts.video_decoder ? parts.video_decoder->upsampling() : parts.decoder->upsampling();
  d.image_height = static_cast<int>(d.latent_height * up);
  d.image_width = static_cast<int>(d.latent_width * up);
  d.frames_per_latent = parts.video_decoder ? parts.video_decoder->frames_per_latent() : 1;
  d.fps = parts.video_decoder ? m.fps : m.fps / kVaeTemporal;  // the preview shows latent frames
  d.steps = f.steps;
  d.shift = f.shift;
  d.chunk = f.chunk;
  d.budget_frames = f.budget_frames;
  d.sink_frames = f.sink_frames;
  d.policy = f.policy;
  d.mode = f.mode;
  d.attention_frames = f.attention_frames;
  d.presets = {"A first-person walk through a sunlit forest, cinematic, high detail"};
  d.start = StartFrom::Noise;
  d.files = m.files;
  if (d.mode == SamplerMode::Rolling && d.sink_frames != d.chunk)
    throw Error(where + ": a rolling window's sink is its first chunk: sink_frames must be " + std::to_string(d.chunk));
  if (d.chunk <= 0 || d.budget_frames < d.chunk + d.sink_frames)
    throw Error(where + ": a cache of " + std::to_string(d.budget_frames) + " frames cannot hold " +
                std::to_string(d.sink_frames) + " sink frames and a chunk of " + std::to_string(d.chunk));
  if (log) *log = notes;
  std::unique_ptr<World> world = World::assemble(std::move(d), std::move(parts), where);
  world->set_max_memory_bytes(options.dit.max_memory_bytes);
  return world;
}

}  // namespace wl
