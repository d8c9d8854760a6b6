// Test-side writers of torch.save archives, byte by byte: a pickle emitter
// (the opcodes torch.save uses, and any others a bad-file test needs) and a
// ZIP writer laid out like torch's (64-byte aligned stored entries, data
// descriptors, always a ZIP64 end record; optionally every field in its
// >4 GiB ZIP64 form). Used to make the further layouts and the bad files.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl::test {

using Bytes = std::vector<uint8_t>;

class PickleOut {
 public:
  PickleOut() { op(0x80); op(2); }
  void op(uint8_t o) { bytes.push_back(o); }
  void raw(const std::string& s) { bytes.insert(bytes.end(), s.begin(), s.end()); }
  void u32(uint32_t v) { for (int i = 0; i < 4; ++i) op(static_cast<uint8_t>(v >> (8 * i))); }
  void str(const std::string& s) { op('X'); u32(static_cast<uint32_t>(s.size())); raw(s); }
  void integer(int64_t v);
  void global(const std::string& module, const std::string& name) { op('c'); raw(module + "\n" + name + "\n"); }
  void mark() { op('('); }
  void put(uint32_t i) { op('r'); u32(i); }
  void get(uint32_t i) { op('j'); u32(i); }
  void empty_dict() { op('}'); }
  void ordered_dict() { global("collections", "OrderedDict"); op(')'); op('R'); }
  // A tensor value: _rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict()),
  // optionally wrapped in _rebuild_from_type_v2(func, torch.Tensor, args, {}).
  void tensor(const std::string& storage_class, const std::string& key, int64_t storage_numel, int64_t offset,
              const Shape& shape, const std::vector<int64_t>& strides, bool from_type_v2 = false);
  void stop() { op('.'); }
  Bytes bytes;
};

// Contiguous strides of `shape`.
std::vector<int64_t> contiguous_strides(const Shape& shape);

// A ZIP archive of stored entries in torch's layout. zip64_form: every size
// and offset saturated in the central directory and end record, the values
// in ZIP64 extras and the ZIP64 end record (as a > 4 GiB file has them).
Bytes make_zip(const std::vector<std::pair<std::string, Bytes>>& entries, bool zip64_form = false);

// A torch.save archive: `<prefix>/data.pkl`, `<prefix>/data/<key>` for each storage, `<prefix>/version`.
Bytes make_pt(const std::string& prefix, const Bytes& pickle, const std::vector<std::pair<std::string, Bytes>>& storages,
              bool zip64_form = false);

// The bytes of a tensor's elements (F32/BF16/F16 CPU tensor).
Bytes tensor_bytes(const Tensor& t);

void write_file(const std::string& path, const Bytes& bytes);

}  // namespace wl::test
