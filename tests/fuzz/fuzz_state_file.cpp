// libFuzzer target for saved world states (runtime/core/state_file.h): any
// bytes must either open as a state whose every entry reads back within its
// bounds through the typed readers, or be refused with wl::Error naming the
// file. Build with clang and -DWORLDLOOP_FUZZ=ON.
#include <cstddef>
#include <cstdint>

#include "runtime/core/error.h"
#include "runtime/core/state_file.h"

namespace wl::ops {
// The writer's device copy; the reader never calls it (the harness links the
// reader's sources only).
Tensor to_backend(const Tensor&, Backend) { throw Error("fuzz: to_backend is not linked"); }
}  // namespace wl::ops

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const wl::StateReader in = wl::StateReader::from_bytes("fuzz.state", data, size);
    volatile uint64_t sink = 0;
    for (const std::string& name : in.names()) {
      try {
        switch (in.dtype_of(name)) {
          case wl::DType::F32: {
            const wl::Tensor t = in.tensor_any(name);
            if (t.numel() > 0) sink = sink + static_cast<uint64_t>(t.f32()[t.numel() - 1] != 0.0f);
            break;
          }
          case wl::DType::U8: {
            const auto b = in.u8(name);
            if (!b.empty()) sink = sink + b.back();
            if (b.size() % 8 == 0) sink = sink + in.i64(name).size() + in.f64(name).size();
            break;
          }
          default:
            in.u8(name);  // refused: the reader names the type
        }
      } catch (const wl::Error&) {
      }
    }
    // The JSON accessors the parts use, on keys that may or may not be there.
    for (const char* key : {"session/seed", "session/identity", "loop/frame", "kv/budget_tokens", "sampler/steps"}) {
      try {
        sink = sink + static_cast<uint64_t>(in.integer(key));
      } catch (const wl::Error&) {
      }
      try {
        sink = sink + in.string(key).size();
      } catch (const wl::Error&) {
      }
    }
  } catch (const wl::Error&) {
  }
  return 0;
}
