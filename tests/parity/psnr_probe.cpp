// The engine's PSNR (bench/eval/image_metrics.h) on two raw RGB8 frames, for
// tests/parity/psnr_parity.py, which checks tools/train/metrics.py against it.
//
//   worldloop_psnr_probe W H a.rgb b.rgb [mask.u8]
//
// a.rgb, b.rgb: W*H*3 bytes, rows top first, [H][W][3]; mask.u8: W*H bytes,
// non-zero = counted. Prints the PSNR with 17 significant digits ("inf", "nan").
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bench/eval/image_metrics.h"

namespace {

std::vector<uint8_t> read_exactly(const char* path, size_t bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "psnr_probe: %s: cannot open\n", path);
    std::exit(2);
  }
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (data.size() != bytes) {
    std::fprintf(stderr, "psnr_probe: %s: %zu bytes, expected %zu\n", path, data.size(), bytes);
    std::exit(2);
  }
  return data;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: %s W H a.rgb b.rgb [mask.u8]\n", argv[0]);
    return 2;
  }
  const int w = std::atoi(argv[1]), h = std::atoi(argv[2]);
  if (w <= 0 || h <= 0) {
    std::fprintf(stderr, "psnr_probe: bad size %s x %s\n", argv[1], argv[2]);
    return 2;
  }
  const size_t pixels = static_cast<size_t>(w) * h;
  const std::vector<uint8_t> a = read_exactly(argv[3], pixels * 3);
  const std::vector<uint8_t> b = read_exactly(argv[4], pixels * 3);
  const std::vector<uint8_t> mask = argc == 6 ? read_exactly(argv[5], pixels) : std::vector<uint8_t>{};
  const double db = wl::app::psnr({a.data(), w, h}, {b.data(), w, h}, mask);
  std::printf("%.17g\n", db);
  return 0;
}
