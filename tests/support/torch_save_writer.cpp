#include "tests/support/torch_save_writer.h"

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace wl::test {

namespace {

void le(Bytes& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint32_t crc32(const Bytes& data) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t byte : data) {
    c ^= byte;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

}  // namespace

void PickleOut::integer(int64_t v) {
  if (v >= 0 && v < 256) { op('K'); op(static_cast<uint8_t>(v)); }
  else if (v >= 0 && v < 65536) { op('M'); op(static_cast<uint8_t>(v)); op(static_cast<uint8_t>(v >> 8)); }
  else if (v >= INT32_MIN && v <= INT32_MAX) { op('J'); u32(static_cast<uint32_t>(v)); }
  else { op(0x8a); op(8); for (int i = 0; i < 8; ++i) op(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i))); }
}

void PickleOut::tensor(const std::string& storage_class, const std::string& key, int64_t storage_numel, int64_t offset,
                       const Shape& shape, const std::vector<int64_t>& strides, bool from_type_v2) {
  if (from_type_v2) {
    global("torch._tensor", "_rebuild_from_type_v2");
    mark();
    global("torch._utils", "_rebuild_tensor_v2");
    global("torch", "Tensor");
    mark();
  } else {
    global("torch._utils", "_rebuild_tensor_v2");
    mark();
  }
  mark();
  str("storage");
  global("torch", storage_class);
  str(key);
  str("cpu");
  integer(storage_numel);
  op('t');
  op('Q');
  integer(offset);
  mark();
  for (int64_t d : shape) integer(d);
  op('t');
  mark();
  for (int64_t s : strides) integer(s);
  op('t');
  op(0x89);
  ordered_dict();
  op('t');
  if (from_type_v2) {
    empty_dict();  // state
    op('t');
  }
  op('R');
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t step = 1;
  for (size_t k = shape.size(); k-- > 0;) {
    s[k] = step;
    step *= shape[k];
  }
  return s;
}

Bytes make_zip(const std::vector<std::pair<std::string, Bytes>>& entries, bool zip64_form) {
  Bytes out, dir;
  for (const auto& [name, data] : entries) {
    const uint64_t local = out.size();
    // Local header: sizes and CRC 0 (flag bit 3: a data descriptor follows the data).
    le(out, 0x04034b50, 4);
    le(out, 45, 2);
    le(out, 0x0808, 2);
    le(out, 0, 2);
    le(out, 0, 4);
    le(out, 0, 4);
    le(out, 0, 4);
    le(out, 0, 4);
    le(out, name.size(), 2);
    const uint64_t unpadded = out.size() + 2 + name.size() + 4;
    const uint64_t pad = (64 - unpadded % 64) % 64;
    le(out, 4 + pad, 2);
    out.insert(out.end(), name.begin(), name.end());
    le(out, 0x4246, 2);  // "FB" padding field
    le(out, pad, 2);
    out.resize(out.size() + pad, 'Z');
    if (out.size() % 64) throw std::logic_error("make_zip: entry data not 64-byte aligned");
    out.insert(out.end(), data.begin(), data.end());
    const uint32_t crc = crc32(data);
    le(out, 0x08074b50, 4);
    le(out, crc, 4);
    le(out, data.size(), 8);
    le(out, data.size(), 8);

    le(dir, 0x02014b50, 4);
    le(dir, 45, 2);
    le(dir, 45, 2);
    le(dir, 0x0808, 2);
    le(dir, 0, 2);
    le(dir, 0, 4);
    le(dir, crc, 4);
    const uint64_t sat = 0xFFFFFFFF;
    le(dir, zip64_form ? sat : data.size(), 4);
    le(dir, zip64_form ? sat : data.size(), 4);
    le(dir, name.size(), 2);
    le(dir, zip64_form ? 28 : 0, 2);
    le(dir, 0, 2);
    le(dir, 0, 2);
    le(dir, 0, 2);
    le(dir, 0, 4);
    le(dir, zip64_form ? sat : local, 4);
    dir.insert(dir.end(), name.begin(), name.end());
    if (zip64_form) {
      le(dir, 0x0001, 2);
      le(dir, 24, 2);
      le(dir, data.size(), 8);  // uncompressed
      le(dir, data.size(), 8);  // compressed
      le(dir, local, 8);        // local header offset
    }
  }
  const uint64_t dir_offset = out.size();
  out.insert(out.end(), dir.begin(), dir.end());
  const uint64_t end64 = out.size();
  const uint64_t n = entries.size();
  le(out, 0x06064b50, 4);
  le(out, 44, 8);
  le(out, 45, 2);
  le(out, 45, 2);
  le(out, 0, 4);
  le(out, 0, 4);
  le(out, n, 8);
  le(out, n, 8);
  le(out, dir.size(), 8);
  le(out, dir_offset, 8);
  le(out, 0x07064b50, 4);
  le(out, 0, 4);
  le(out, end64, 8);
  le(out, 1, 4);
  le(out, 0x06054b50, 4);
  le(out, 0, 2);
  le(out, 0, 2);
  le(out, zip64_form ? 0xFFFF : n, 2);
  le(out, zip64_form ? 0xFFFF : n, 2);
  le(out, zip64_form ? 0xFFFFFFFF : dir.size(), 4);
  le(out, zip64_form ? 0xFFFFFFFF : dir_offset, 4);
  le(out, 0, 2);
  return out;
}

Bytes make_pt(const std::string& prefix, const Bytes& pickle, const std::vector<std::pair<std::string, Bytes>>& storages,
              bool zip64_form) {
  std::vector<std::pair<std::string, Bytes>> entries;
  entries.emplace_back(prefix + "/data.pkl", pickle);
  for (const auto& [key, data] : storages) entries.emplace_back(prefix + "/data/" + key, data);
  entries.emplace_back(prefix + "/version", Bytes{'3', '\n'});
  return make_zip(entries, zip64_form);
}

Bytes tensor_bytes(const Tensor& t) {
  const auto* p = static_cast<const uint8_t*>(t.raw());
  return Bytes(p, p + t.nbytes());
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace wl::test
