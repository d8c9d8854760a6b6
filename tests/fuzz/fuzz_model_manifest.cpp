// libFuzzer target for a published model directory's model.json
// (runtime/model/model_manifest.h): any text must either give a manifest
// whose numbers are in range or be refused with wl::Error naming model.json.
// Build with clang and -DWORLDLOOP_FUZZ=ON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/core/error.h"
#include "runtime/model/model_manifest.h"

namespace {

std::string g_dir;  // a model directory with a file and a symlink out, removed at exit

// Real files, so the confinement of what model.json names is fuzzed too.
void make_model_dir() {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "wl_fuzz_model.XXXXXX").string();
  if (!::mkdtemp(dir.data())) std::abort();
  std::ofstream(fs::path(dir) / "dit.pt") << "x";
  std::error_code ec;
  fs::create_symlink("/etc/hostname", fs::path(dir) / "outside", ec);
  g_dir = dir;
  std::atexit([] { std::filesystem::remove_all(g_dir); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_dir.empty()) make_model_dir();
  const std::string& dir = g_dir;
  const std::string text(reinterpret_cast<const char*>(data), size);
  wl::ModelManifest m;
  try {
    m = wl::ModelManifest::parse(text, dir, dir + "/model.json");
  } catch (const wl::Error&) {
    return 0;
  }
  if (m.width < 16 || m.height < 16 || m.width % 16 || m.height % 16 || !(m.fps > 0) || !m.files.count("dit"))
    __builtin_trap();
  if (m.chunk && (*m.chunk < 1 || *m.chunk > 64)) __builtin_trap();
  if (m.steps && (m.steps->empty() || m.steps->size() > 64)) __builtin_trap();
  for (const auto& [role, file] : m.files) {  // inside the directory: no absolute path, no ".."
    const std::filesystem::path p(file);
    if (p.is_absolute()) __builtin_trap();
    for (const auto& part : p)
      if (part == "..") __builtin_trap();
  }
  return 0;
}
