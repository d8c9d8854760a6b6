// A restricted pickle VM for torch.save state dicts: it builds a value tree
// and never executes code.
//
// It knows protocol 2 (plus the few protocol 3/4 opcodes listed in
// torch_unpickler.cpp) and exactly these globals: collections.OrderedDict,
// the torch.*Storage classes (inside persistent ids), torch._utils.
// _rebuild_tensor_v2, torch._tensor._rebuild_from_type_v2, torch._utils.
// _rebuild_parameter and torch.Tensor (the ignored type argument). Any other
// global, an unknown opcode, stack or memo misuse, or a structure past the
// limits below throws wl::Error naming the pickle and the problem.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace wl {

// Element types of torch storages.
enum class StorageType : uint8_t { F32, BF16, F16, F64, I64, I32, U8, Bool };
size_t storage_type_size(StorageType t);
const char* storage_type_name(StorageType t);  // "F32", "BF16", ... (safetensors spelling)

// The bytes behind one storage (resolved by the caller from a persistent id).
struct StorageBytes {
  const uint8_t* data = nullptr;
  uint64_t size = 0;  // bytes available
};

// A strided view into a storage, as _rebuild_tensor_v2 describes it.
struct PickledTensor {
  StorageType dtype = StorageType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;  // in elements
  int64_t offset = 0;            // in elements
  std::string storage_key;
  int64_t storage_numel = 0;
  const uint8_t* storage = nullptr;  // the storage's first byte
  bool contiguous() const;
  int64_t numel() const;
};

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

struct PickleValue {
  enum class Kind : uint8_t { None, Bool, Int, Float, String, Bytes, List, Tuple, Dict, Tensor, Global, Storage };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                                 // String, Bytes; Global: "module.name"
  std::vector<PickleRef> items;                     // List, Tuple
  std::vector<std::pair<PickleRef, PickleRef>> entries;  // Dict, in insertion order
  std::map<std::string, size_t> string_keys;        // Dict: index of each string key
  PickledTensor tensor;                             // Tensor; Storage uses dtype/key/numel/storage
  // Bookkeeping of the VM: stored in another container (no more changes), nesting depth.
  bool sealed = false;
  uint16_t depth = 0;

  const PickleValue* find(const std::string& key) const;  // Dict lookup by string key
};

struct UnpickleLimits {
  uint64_t max_objects = 50'000'000;  // values created
  uint64_t max_stack = 1'000'000;
  uint64_t max_memo = 10'000'000;
  uint64_t max_string_bytes = 1 << 26;
};

// Resolves ('storage', class, key, location, numel): returns the storage's
// bytes or throws. `numel` is checked against the returned size here.
using StorageResolver = std::function<StorageBytes(const std::string& key, StorageType type, int64_t numel)>;

// Runs the pickle in `data` and returns the object STOP leaves. `label` names
// the pickle in errors ("ckpt.pt: archive/data.pkl").
PickleRef unpickle(const std::string& label, const uint8_t* data, size_t size, const StorageResolver& resolve,
                   const UnpickleLimits& limits = {});

}  // namespace wl
