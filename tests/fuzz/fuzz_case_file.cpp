// libFuzzer target for test-case files read for their float tensors
// (runtime/model/case_file.h, `text-encode --case`): any bytes must either give
// a file whose every tensor reads completely, or be refused with wl::Error.
// Build with clang and -DWORLDLOOP_FUZZ=ON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/model/case_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    std::vector<std::string> skipped;
    const wl::SafetensorsFile file = wl::float_tensors_from_bytes("fuzz.case", bytes, &skipped);
    volatile uint8_t sink = 0;
    for (const auto& name : file.names()) {
      const wl::Tensor t = file.get(name);
      const auto* p = static_cast<const uint8_t*>(t.raw());
      uint8_t acc = 0;
      for (size_t i = 0; i < t.nbytes(); ++i) acc ^= p[i];
      sink = sink ^ acc;
      (void)file.get_f32(name);
    }
    for (const auto& name : skipped) sink = sink ^ static_cast<uint8_t>(name.size());
    for (const auto& [key, value] : file.metadata()) sink = sink ^ static_cast<uint8_t>(key.size() + value.size());
  } catch (const wl::Error&) {
  }
  return 0;
}
