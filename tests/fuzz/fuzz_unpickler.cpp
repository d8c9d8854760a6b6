// libFuzzer target for the restricted unpickler: the input is a pickle run
// against one 64-byte storage "0"; it must either give a value tree whose
// tensors lie inside their storages, or throw wl::Error. Build with clang and
// -DWORLDLOOP_FUZZ=ON.
#include <cstddef>
#include <cstdint>

#include "runtime/core/error.h"
#include "runtime/core/torch_unpickler.h"

namespace {

uint8_t g_storage[64];

uint8_t touch(const wl::PickleValue& v) {
  uint8_t acc = 0;
  if (v.kind == wl::PickleValue::Kind::Tensor && v.tensor.numel() > 0) {
    const wl::PickledTensor& t = v.tensor;
    int64_t last = t.offset;
    for (size_t k = 0; k < t.shape.size(); ++k) last += (t.shape[k] - 1) * t.strides[k];
    const size_t esz = wl::storage_type_size(t.dtype);
    acc ^= t.storage[static_cast<size_t>(last) * esz + esz - 1];
  }
  for (const auto& i : v.items) acc ^= touch(*i);
  for (const auto& [k, x] : v.entries) acc ^= touch(*x);
  return acc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto resolve = [](const std::string& key, wl::StorageType, int64_t) -> wl::StorageBytes {
    if (key != "0") throw wl::Error("fuzz.pkl: no storage '" + key + "'");
    return {g_storage, sizeof g_storage};
  };
  try {
    wl::UnpickleLimits limits;
    limits.max_objects = 100000;
    wl::PickleRef root = wl::unpickle("fuzz.pkl", data, size, resolve, limits);
    volatile uint8_t sink = touch(*root);
    (void)sink;
  } catch (const wl::Error&) {
  }
  return 0;
}
