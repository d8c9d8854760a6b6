// A published model directory as a World (world.h): the downloads' files,
// their roles from model.json or detection (model_manifest.h), the family's
// sampling row (model_family.h), the umT5 text encoder, and the shown frames'
// decoder: TAEHV or the Wan VAE (latent_video_decoder.h, 4 frames per latent
// frame at 8x its size) when the directory has one, else the latent preview
// (latent_preview.h). The world starts from
// noise and has no actions (text-to-video); a prompt switch re-caches as
// LongLive does. Errors name the file and the problem.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/model/model_manifest.h"
#include "runtime/model/world.h"

namespace wl {

struct PublishedModelOptions {
  DitOptions dit;                  // the DiT's backend and products
  Backend text_backend = Backend::CPU;  // where umT5 runs (--text-device)
  std::string weights_key;         // overrides model.json and the family (--weights-key)
  std::vector<LoraFile> loras;     // added to model.json's (--lora FILE[:SCALE], --lora-alpha)
  std::string decoder;             // overrides model.json's decoder: vae | taehv | preview (--decoder)
  std::string decoder_stream;      // and its semantics (--vae-stream / --taehv-stream)
  // Where umT5's prompt embeddings are kept on disk (empty: memory only;
  // absent: PromptEmbeddingCache::default_dir()).
  std::optional<std::string> text_cache_dir;
  // model.json may name files outside the model directory (--allow-external-paths).
  bool allow_external_paths = false;
};

// True when `dir` is a published model directory rather than a world package
// (it has no world.json).
bool is_published_model_dir(const std::string& dir);

// Loads the model in `dir`; `log` gets one line per thing a user may need to
// know on the first run (what detection guessed, what is not loaded).
std::unique_ptr<World> open_published_model(const std::string& dir, const PublishedModelOptions& options,
                                            std::vector<std::string>* log = nullptr);

}  // namespace wl
