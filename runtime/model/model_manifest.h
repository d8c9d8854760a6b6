// model.json: which file of a published model directory fills which role, and
// how the model samples. `worldloop inspect --write-manifest DIR` writes it
// from the files it finds; `worldloop play --model DIR` reads it, or detects
// the same thing itself when it is absent. Every field but the files may be
// left out and then comes from the family's row (model_family.h).
//
//   {
//     "family": "self_forcing",
//     "files": {"dit": "self_forcing_dmd.pt",
//               "text_encoder": "models_t5_umt5-xxl-enc-bf16.pth",
//               "tokenizer": "google/umt5-xxl/spiece.model",
//               "vae": "Wan2.1_VAE.pth"},
//     "weights_key": "generator_ema",
//     "lora": [{"file": "lora.pt", "scale": 1.0, "alpha": 256}],
//     "video": {"width": 832, "height": 480, "fps": 16},
//     "sampler": {"steps": [1000, 750, 500, 250], "shift": 5.0, "chunk": 3},
//     "cache": {"budget_frames": 21, "sink_frames": 0, "policy": "window"}
//   }
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/model/model_family.h"

namespace wl {

struct LoraFile {
  std::string file;             // relative to the model directory (absolute: --lora, or --allow-external-paths)
  float scale = 1.0f;
  std::optional<float> alpha;   // absent: the rank (scale alpha / r = 1)
};

struct ModelManifest {
  std::string dir;
  std::string family = "self_forcing";
  // role -> file: "dit" (required), "text_encoder", "tokenizer", "vae", "taehv", "clip".
  std::map<std::string, std::string> files;
  std::string weights_key;  // empty: the family's, then the loader's rule
  std::vector<LoraFile> loras;
  int width = 832, height = 480;  // pixels; latents are 8x smaller
  double fps = 16;
  // Overrides of the family's row (absent: the row's value).
  std::optional<std::vector<int>> steps;
  std::optional<double> shift;
  std::optional<int64_t> chunk, budget_frames, sink_frames;
  std::optional<std::string> policy;
  std::optional<SamplerMode> mode;  // sampler.mode: "chunk" or "rolling"
  // The pixel decoder play shows: "vae", "taehv" or "preview" (empty: TAEHV
  // when files has one, else the VAE, else the latent preview), and its
  // streaming semantics: "pipeline" | "demo" for the VAE, "carried" | "demo"
  // for TAEHV (empty: the first).
  std::string decoder, decoder_stream;
  std::vector<std::string> notes;  // what detection guessed, for the first-run log

  // <dir>/model.json; throws wl::Error naming the file and the problem. The
  // files and LoRAs it names must resolve inside `dir`, symlinks followed
  // (no absolute paths, no ".."), unless `allow_external_paths`
  // (--allow-external-paths), as for a world package (input_file.h).
  static ModelManifest read(const std::string& dir, bool allow_external_paths = false);
  // The same checks on model.json's text; `path` is the file errors name.
  // (The fuzz target tests/fuzz/fuzz_model_manifest.cpp calls it.)
  static ModelManifest parse(const std::string& text, const std::string& dir, const std::string& path,
                             bool allow_external_paths = false);
  // From the file names in `dir` (the downloads' names: see the README's
  // "Playing a published model"); throws wl::Error saying what is missing.
  static ModelManifest detect(const std::string& dir);
  // read() when model.json exists, else detect().
  static ModelManifest open(const std::string& dir, bool allow_external_paths = false);
  void write(const std::string& path) const;

  // The family's row with this manifest's overrides applied.
  ModelFamily sampling() const;
  // A role's file as a path (dir joined), or "" when the role is not filled.
  std::string path(const std::string& role) const;
};

}  // namespace wl
