// libFuzzer target for the safetensors reader: any input must either load,
// with every tensor readable, or throw wl::Error. Build with clang and
// -DWORLDLOOP_FUZZ=ON; run e.g. `fuzz_safetensors -dict=safetensors.dict corpus/safetensors/`.
#include <cstddef>
#include <cstdint>

#include "runtime/core/error.h"
#include "runtime/core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    wl::SafetensorsFile file = wl::SafetensorsFile::from_bytes("fuzz", data, size);
    // Read every accepted tensor completely so ASan sees any out-of-range view.
    volatile uint8_t sink = 0;
    for (const auto& name : file.names()) {
      wl::Tensor t = file.get(name);
      const auto* p = static_cast<const uint8_t*>(t.raw());
      uint8_t acc = 0;
      for (size_t i = 0; i < t.nbytes(); ++i) acc ^= p[i];
      sink = sink ^ acc;
      (void)file.get_f32(name);
    }
    (void)sink;
  } catch (const wl::Error&) {
    // Rejection is the expected outcome for malformed input.
  }
  return 0;
}
