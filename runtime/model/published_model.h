// A published model directory as a World (world.h): the downloads' files,
// their roles from model.json or detection (model_manifest.h), the family's
// sampling row (model_family.h), the umT5 text encoder and the latent preview
// (latent_preview.h): the pixel decoders (latent_video_decoder.h) give 4 frames
// per latent and the play loop takes one, so play does not use them yet. The world starts from
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
  // Where umT5's prompt embeddings are kept on disk (empty: memory only;
  // absent: PromptEmbeddingCache::default_dir()).
  std::optional<std::string> text_cache_dir;
};

// True when `dir` is a published model directory rather than a world package
// (it has no world.json).
bool is_published_model_dir(const std::string& dir);

// Loads the model in `dir`; `log` gets one line per thing a user may need to
// know on the first run (what detection guessed, what is not loaded).
std::unique_ptr<World> open_published_model(const std::string& dir, const PublishedModelOptions& options,
                                            std::vector<std::string>* log = nullptr);

}  // namespace wl
