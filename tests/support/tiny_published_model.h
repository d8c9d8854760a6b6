// The files of a tiny published model directory, under the downloads' names:
// the tiny umT5 encoder and its SentencePiece model, and a random causal Wan
// DiT (16 latent channels, one head of 128) wrapped like Self Forcing's
// (generator_ema.model.). The caller writes model.json.
#pragma once
#include <string>

namespace wl::testref {

void write_tiny_published_files(const std::string& dir, const std::string& dit_file);

}  // namespace wl::testref
