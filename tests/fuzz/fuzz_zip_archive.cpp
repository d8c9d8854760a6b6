// libFuzzer target for the ZIP reader: any input must either open, with
// every entry's bytes inside the image, or throw wl::Error. Build with clang
// and -DWORLDLOOP_FUZZ=ON.
#include <cstddef>
#include <cstdint>

#include "runtime/core/error.h"
#include "runtime/core/zip_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    wl::ZipArchive z = wl::ZipArchive::from_bytes("fuzz.zip", data, size);
    volatile uint8_t sink = 0;
    for (const wl::ZipEntry& e : z.entries())
      if (e.size) sink = sink ^ z.data(e)[0] ^ z.data(e)[e.size - 1];  // ASan sees an entry outside the image
    (void)sink;
  } catch (const wl::Error&) {
  }
  return 0;
}
