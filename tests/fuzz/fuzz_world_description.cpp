// libFuzzer target for world.json (runtime/model/world_description.h): any
// text must either give a description whose numbers are in their ranges and
// whose files resolve inside the package, or be refused with wl::Error naming
// world.json. Never a crash, and never a file opened: the checks only stat.
// The package folder is a temporary one holding the usual file names, a
// symlink that leads outside it and a FIFO, so the path rules are exercised.
// Build with clang and -DWORLDLOOP_FUZZ=ON.
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/core/error.h"
#include "runtime/model/world_description.h"

namespace {

std::string g_package;  // the temporary package folder, removed at exit

void make_package() {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "wl_fuzz_world.XXXXXX").string();
  if (!::mkdtemp(dir.data())) std::abort();
  for (const char* f : {"dit.safetensors", "decoder.safetensors", "text_encoder.safetensors", "tokenizer.model",
                        "start.safetensors", "encoder.safetensors"})
    std::ofstream(fs::path(dir) / f) << "x";
  std::error_code ec;
  fs::create_directory(fs::path(dir) / "sub", ec);
  std::ofstream(fs::path(dir) / "sub" / "dit.safetensors") << "x";
  fs::create_symlink("/etc/hostname", fs::path(dir) / "outside", ec);
  fs::create_symlink("dit.safetensors", fs::path(dir) / "inside", ec);
  ::mkfifo((fs::path(dir) / "fifo").c_str(), 0600);
  g_package = dir;
  std::atexit([] { std::filesystem::remove_all(g_package); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (g_package.empty()) make_package();
  const std::string& dir = g_package;
  // Odd sizes also try --allow-external-paths, which still requires regular files.
  const bool allow_external = size % 2 == 1;
  try {
    const wl::WorldDescription d = wl::WorldDescription::parse(text, dir, dir + "/world.json", allow_external);
    // What was accepted is in range (the checks the loader relies on).
    if (d.chunk < 1 || d.budget_frames < d.chunk + d.sink_frames || d.budget_frames > wl::kMaxBudgetFrames ||
        d.prime_frames < 0 || d.prime_frames > wl::kMaxPrimeFrames || d.prime_frames % d.chunk != 0 ||
        !(d.fps > 0) || d.steps.empty() || !(d.latent_scale > 0) || d.image_width < 1 || d.image_height < 1)
      __builtin_trap();
  } catch (const wl::Error&) {
  }
  return 0;
}
