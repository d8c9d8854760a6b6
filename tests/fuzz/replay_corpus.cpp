// Replays a fuzz target's corpus without libFuzzer: built with the project's
// compiler (gcc in CI) and ASan/UBSan, linked with one fuzz_*.cpp, it feeds
// every file under the given directories (sorted, recursively) to
// LLVMFuzzerTestOneInput, as libFuzzer would. A crash, a sanitizer report or
// an exception other than wl::Error (which the targets catch) fails the run;
// an empty corpus fails too, so that a moved folder cannot pass unnoticed.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path p = argv[i];
    if (fs::is_directory(p)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) inputs.push_back(e.path());
    } else if (fs::is_regular_file(p)) {
      inputs.push_back(p);
    } else {
      std::fprintf(stderr, "replay_corpus: %s: no such file or directory\n", argv[i]);
      return 1;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay_corpus: no corpus files given\n");
    return 1;
  }
  std::sort(inputs.begin(), inputs.end());
  for (const fs::path& p : inputs) {
    std::ifstream in(p, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
    std::printf("replay %s (%zu bytes)\n", p.c_str(), bytes.size());
    std::fflush(stdout);  // a crash below names the input
    // An exactly sized copy, as libFuzzer hands it over: ASan then sees a read
    // one byte past the input (a vector's spare capacity would hide it).
    std::unique_ptr<uint8_t[]> input(new uint8_t[bytes.size()]);
    std::copy(bytes.begin(), bytes.end(), input.get());
    LLVMFuzzerTestOneInput(input.get(), bytes.size());
  }
  std::printf("replay_corpus: %zu inputs, no crash\n", inputs.size());
  return 0;
}
