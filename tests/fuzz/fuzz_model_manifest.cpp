// libFuzzer target for a published model directory's model.json
// (runtime/model/model_manifest.h): any text must either give a manifest
// whose numbers are in range or be refused with wl::Error naming model.json.
// Build with clang and -DWORLDLOOP_FUZZ=ON.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/core/error.h"
#include "runtime/model/model_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  wl::ModelManifest m;
  try {
    m = wl::ModelManifest::parse(text, "model_dir", "model_dir/model.json");
  } catch (const wl::Error&) {
    return 0;
  }
  if (m.width < 16 || m.height < 16 || m.width % 16 || m.height % 16 || !(m.fps > 0) || !m.files.count("dit"))
    __builtin_trap();
  if (m.chunk && (*m.chunk < 1 || *m.chunk > 64)) __builtin_trap();
  if (m.steps && (m.steps->empty() || m.steps->size() > 64)) __builtin_trap();
  return 0;
}
