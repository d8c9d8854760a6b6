// safetensors reader (mmap + full validation) and writer. Every check the
// reader makes turns a malformed file into a one-line wl::Error naming the
// file, the tensor and the problem; nothing past the validation step ever
// reads outside the image.
#include "runtime/core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <tuple>

#include "runtime/core/error.h"
#include "runtime/core/output_file.h"

namespace wl {

namespace {

using json = nlohmann::json;

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; big-endian hosts would need byte swaps");

// Same cap as the reference implementation: a larger header is a corrupt
// length field, not a real checkpoint, and must not drive a huge parse.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kMaxNameInMessage = 200;

[[noreturn]] void fail(const std::string& label, const std::string& problem) {
  throw Error(label + ": " + problem);
}

std::string hex_byte(uint8_t b) {
  static const char* digits = "0123456789abcdef";
  return std::string("\\x") + digits[b >> 4] + digits[b & 15];
}

// A name fit for a one-line message: control bytes escaped (and, when asked,
// every non-ASCII byte), long names cut.
std::string printable(std::string_view s, bool escape_non_ascii = false) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMaxNameInMessage; ++i) {
    auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x20 || b == 0x7f || (escape_non_ascii && b >= 0x80))
      out += hex_byte(b);
    else
      out += static_cast<char>(b);
  }
  if (s.size() > kMaxNameInMessage) out += "...";
  return out;
}

std::string tensor_label(const std::string& label, const std::string& name) {
  return label + ": tensor '" + printable(name) + "'";
}

// Short rendering of a JSON value for messages: scalars as written, containers by kind.
std::string brief(const json& v) {
  if (v.is_structured()) {
    std::string dumped = v.dump();
    if (dumped.size() <= 80) return dumped;
    return std::string("a long ") + v.type_name();
  }
  return printable(v.dump());
}

// Offset of the first byte that breaks strict UTF-8 (overlong forms,
// surrogates and code points past U+10FFFF included), or npos.
size_t find_invalid_utf8(std::string_view s) {
  static constexpr uint32_t kMinCodePoint[5] = {0, 0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = cp << 6 | (cc & 0x3f);
    }
    if (cp < kMinCodePoint[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string_view::npos;
}

// The header text around a bad byte, cut at the enclosing quotes: in practice
// the tensor name (or metadata string) that carries it.
std::string enclosing_string(std::string_view header, size_t at) {
  size_t begin = header.rfind('"', at);
  begin = begin == std::string_view::npos ? (at > 40 ? at - 40 : 0) : begin + 1;
  size_t end = header.find('"', at);
  if (end == std::string_view::npos || end - at > 40) end = std::min(header.size(), at + 40);
  return printable(header.substr(begin, end - begin), /*escape_non_ascii=*/true);
}

// Parses the header, rejecting a key repeated within one object (nlohmann
// would silently keep the last one, hiding which tensor the file meant).
json parse_header(const std::string& label, std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  json::parser_callback_t track = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && duplicate.empty() &&
            !open_objects.back().insert(parsed.get<std::string>()).second)
          duplicate = parsed.get<std::string>();
        break;
      default: break;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), track);
  } catch (const json::exception& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep the position and reason.
    std::string why = e.what();
    if (size_t tag_end = why.find("] "); why.rfind("[json.exception", 0) == 0 && tag_end != std::string::npos)
      why = why.substr(tag_end + 2);
    std::replace(why.begin(), why.end(), '\n', ' ');
    fail(label, "header is not valid JSON: " + why);
  }
  if (!duplicate.empty()) fail(label, "header repeats the key '" + printable(duplicate) + "'");
  if (!header.is_object())
    fail(label, std::string("header is a JSON ") + header.type_name() + ", expected an object");
  return header;
}

// A non-negative JSON integer as uint64_t; false for negatives, floats and non-numbers.
bool as_u64(const json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

bool parse_dtype(const std::string& s, DType& out) {
  for (DType t : {DType::F32, DType::BF16, DType::F16, DType::U8}) {
    if (s == dtype_name(t)) {
      out = t;
      return true;
    }
  }
  return false;
}

const json& required_field(const std::string& where, const json& entry, const char* key) {
  auto it = entry.find(key);
  if (it == entry.end()) fail(where, std::string("missing '") + key + "'");
  return *it;
}

Shape parse_shape(const std::string& where, const json& v) {
  if (!v.is_array()) fail(where, "shape must be an array of non-negative integers, got " + brief(v));
  Shape shape;
  shape.reserve(v.size());
  for (const json& d : v) {
    uint64_t dim;
    if (!as_u64(d, dim)) {
      if (d.is_number_integer())
        fail(where, "shape " + brief(v) + " has a negative dimension (" + brief(d) + ")");
      fail(where, "shape " + brief(v) + " has a dimension that is not an integer (" + brief(d) + ")");
    }
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(where, "shape " + brief(v) + " has a dimension too large to index (" + brief(d) + ")");
    shape.push_back(static_cast<int64_t>(dim));
  }
  // The product of the non-zero dimensions must fit, or later element-count
  // arithmetic (shape_numel, strides) would overflow even for empty tensors.
  uint64_t product = 1;
  for (int64_t d : shape) {
    if (d != 0 && __builtin_mul_overflow(product, static_cast<uint64_t>(d), &product))
      fail(where, "shape " + shape_str(shape) + " has more elements than fit in 64 bits");
  }
  if (product > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail(where, "shape " + shape_str(shape) + " has more elements than fit in 64 bits");
  return shape;
}

std::string offsets_str(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

TensorInfo parse_entry(const std::string& label, const std::string& name, const json& entry,
                       uint64_t data_size) {
  const std::string where = tensor_label(label, name);
  if (!entry.is_object())
    fail(where, std::string("entry is a JSON ") + entry.type_name() +
                    ", expected an object with dtype, shape and data_offsets");
  TensorInfo info;
  info.name = name;

  const json& dtype = required_field(where, entry, "dtype");
  if (!dtype.is_string()) fail(where, "dtype must be a string, got " + brief(dtype));
  if (!parse_dtype(dtype.get<std::string>(), info.dtype))
    fail(where, "unsupported dtype '" + printable(dtype.get<std::string>()) +
                    "' (supported: F32, BF16, F16, U8)");

  info.shape = parse_shape(where, required_field(where, entry, "shape"));

  const json& offsets = required_field(where, entry, "data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !as_u64(offsets[0], info.begin) ||
      !as_u64(offsets[1], info.end))
    fail(where, "data_offsets must be two non-negative integers [begin, end], got " + brief(offsets));
  if (info.begin > info.end)
    fail(where, "data_offsets " + offsets_str(info.begin, info.end) + " begin after they end");
  if (info.end > data_size)
    fail(where, "data_offsets " + offsets_str(info.begin, info.end) +
                    " reach past the end of the data section (" + std::to_string(data_size) +
                    " bytes; the file is truncated or the offsets are wrong)");

  // parse_shape bounds the element count by 2^63; the byte count can still wrap.
  uint64_t needed = 0;
  const uint64_t numel = static_cast<uint64_t>(shape_numel(info.shape));
  const uint64_t held = info.end - info.begin;
  const bool wraps = __builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(info.dtype)), &needed);
  if (wraps || needed != held)
    fail(where, "data_offsets " + offsets_str(info.begin, info.end) + " hold " + std::to_string(held) +
                    " bytes but dtype " + dtype_name(info.dtype) + " shape " + shape_str(info.shape) +
                    " needs " + (wraps ? std::string("more than 2^64") : std::to_string(needed)));
  return info;
}

std::map<std::string, std::string> parse_metadata(const std::string& label, const json& v) {
  if (!v.is_object())
    fail(label, std::string("__metadata__ is a JSON ") + v.type_name() + ", expected an object of strings");
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string())
      fail(label, "__metadata__ value for '" + printable(key) + "' is a JSON " + value.type_name() +
                      " (" + brief(value) + "), expected a string");
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

std::shared_ptr<void> copy_aligned(const uint8_t* data, size_t size) {
  // 64-byte alignment so in-memory images align their data like a mapped file
  // would, and exactly `size` bytes (not rounded up) so that AddressSanitizer
  // sees a read one byte past the image (the fuzz targets and their replay).
  constexpr std::align_val_t kAlign{64};
  void* p = ::operator new(std::max<size_t>(size, 1), kAlign, std::nothrow);
  if (!p) throw Error("out of memory copying a " + std::to_string(size) + "-byte safetensors image");
  if (size) std::memcpy(p, data, size);
  return std::shared_ptr<void>(p, [](void* q) { ::operator delete(q, kAlign); });
}

std::string os_reason() { return std::strerror(errno); }

}  // namespace

namespace {

// What validation yields; open() and from_bytes() move it into the file.
struct ParsedImage {
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;  // sorted by data offset
  std::map<std::string, size_t> index;
  const uint8_t* data_section = nullptr;
};

ParsedImage parse_image(const std::string& label, const uint8_t* bytes, size_t size) {
  if (size < 8)
    fail(label, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length (truncated)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | bytes[i];
  const uint64_t after_length = size - 8;
  if (header_len == 0) fail(label, "header length is 0");
  if (header_len > after_length)
    fail(label, "header length " + std::to_string(header_len) + " is larger than the " +
                    std::to_string(after_length) + " bytes after the length field (file is " +
                    std::to_string(size) + " bytes; truncated or corrupt)");
  if (header_len > kMaxHeaderBytes)
    fail(label, "header length " + std::to_string(header_len) + " exceeds the " +
                    std::to_string(kMaxHeaderBytes) + "-byte limit (corrupt length field?)");

  std::string_view text(reinterpret_cast<const char*>(bytes + 8), header_len);
  if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
    fail(label, "header is not valid UTF-8: byte " + hex_byte(static_cast<uint8_t>(text[bad])) +
                    " at header offset " + std::to_string(bad) + " in \"" + enclosing_string(text, bad) +
                    "\"");
  json header = parse_header(label, text);

  ParsedImage out;
  const uint64_t data_size = after_length - header_len;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__")
      out.metadata = parse_metadata(label, entry);
    else
      out.tensors.push_back(parse_entry(label, name, entry, data_size));
  }

  // File order: by data offset. Empty tensors own no bytes and cannot overlap.
  std::sort(out.tensors.begin(), out.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  const TensorInfo* furthest = nullptr;  // the non-empty range reaching furthest so far
  for (const TensorInfo& t : out.tensors) {
    if (t.begin == t.end) continue;
    if (furthest && t.begin < furthest->end)
      fail(tensor_label(label, t.name), "data_offsets " + offsets_str(t.begin, t.end) + " overlap tensor '" +
                                            printable(furthest->name) + "' " +
                                            offsets_str(furthest->begin, furthest->end));
    if (!furthest || t.end > furthest->end) furthest = &t;
  }
  // Holes between tensors and trailing bytes are tolerated: files in the wild have them.
  for (size_t i = 0; i < out.tensors.size(); ++i) out.index.emplace(out.tensors[i].name, i);
  out.data_section = bytes + 8 + header_len;
  return out;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  // O_NONBLOCK: a FIFO is refused by fstat below instead of blocking open().
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(path, "cannot open: " + os_reason());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = os_reason();
    ::close(fd);
    fail(path, "cannot stat: " + why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size < 8) {  // mmap cannot map an empty file; report it like any truncation
    ::close(fd);
    fail(path, "file is " + std::to_string(size) +
                   " bytes, shorter than the 8-byte header length (truncated)");
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (addr == MAP_FAILED) {
    std::string why = os_reason();
    ::close(fd);
    fail(path, "cannot map " + std::to_string(size) + " bytes: " + why);
  }
  SafetensorsFile f;
  f.path_ = path;
  f.mapping_ = std::shared_ptr<void>(addr, [size, fd](void* p) {
    ::munmap(p, size);
    ::close(fd);
  });
  ParsedImage parsed = parse_image(path, static_cast<const uint8_t*>(addr), size);
  f.metadata_ = std::move(parsed.metadata);
  f.tensors_ = std::move(parsed.tensors);
  f.index_ = std::move(parsed.index);
  f.data_section_ = parsed.data_section;
  return f;
}

SafetensorsFile SafetensorsFile::from_bytes(const std::string& label, const uint8_t* data, size_t size) {
  SafetensorsFile f;
  f.path_ = label;
  f.mapping_ = copy_aligned(data, size);
  ParsedImage parsed = parse_image(label, static_cast<const uint8_t*>(f.mapping_.get()), size);
  f.metadata_ = std::move(parsed.metadata);
  f.tensors_ = std::move(parsed.tensors);
  f.index_ = std::move(parsed.index);
  f.data_section_ = parsed.data_section;
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const TensorInfo& t : tensors_) out.push_back(t.name);
  return out;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(path_, "missing tensor '" + printable(name) + "'");
  return tensors_[it->second];
}

Tensor SafetensorsFile::get(const std::string& name) const {
  const TensorInfo& t = info(name);
  const uint8_t* src = data_section_ + t.begin;
  // Views need natural alignment for typed access; files whose header length
  // is not a multiple of 8 leave the data misaligned, so those tensors are copied.
  if (reinterpret_cast<uintptr_t>(src) % dtype_size(t.dtype) == 0)
    return Tensor::view(const_cast<uint8_t*>(src), t.shape, t.dtype, mapping_);
  Tensor copy = Tensor::empty(t.shape, t.dtype);
  if (t.end > t.begin) std::memcpy(copy.raw(), src, t.end - t.begin);
  return copy;
}

Tensor SafetensorsFile::get_f32(const std::string& name) const {
  Tensor t = get(name);
  if (t.dtype() == DType::F32) return t;
  // Empty tensors skip Tensor::to, whose conversion would memcpy from a null vector.
  if (t.numel() == 0) return Tensor::zeros(t.shape(), DType::F32);
  return t.to(DType::F32);
}

// ---------------------------------------------------------------------------
// Writer

namespace {

void require_utf8(const std::string& path, const std::string& what, const std::string& s) {
  if (find_invalid_utf8(s) != std::string_view::npos)
    fail(path, what + " '" + printable(s, true) + "' is not valid UTF-8");
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const std::pair<std::string, Tensor>*> order;
  order.reserve(tensors.size());
  for (const auto& entry : tensors) {
    const auto& [name, t] = entry;
    const std::string where = tensor_label(path, name);
    if (name == "__metadata__") fail(path, "'__metadata__' cannot be a tensor name");
    require_utf8(path, "tensor name", name);
    if (t.backend() != Backend::CPU) fail(where, "is not on the CPU");
    if (!t.defined()) fail(where, "is undefined");
    order.push_back(&entry);
  }
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->first < b->first; });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i]->first == order[i - 1]->first) fail(path, "tensor '" + printable(order[i]->first) + "' given twice");

  json header = json::object();
  if (!metadata.empty()) {
    json meta = json::object();
    for (const auto& [k, v] : metadata) {
      require_utf8(path, "metadata key", k);
      require_utf8(path, "metadata value for '" + printable(k) + "'", v);
      meta[k] = v;
    }
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto* entry : order) {
    const Tensor& t = entry->second;
    header[entry->first] = {{"dtype", dtype_name(t.dtype())},
                            {"shape", t.shape()},
                            {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text = header.dump();
  // Pad with spaces (as the reference writer does) so the data section starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');

  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  ReplacingFile out(path);  // never a symlink or device replaced, never half written
  out.write(length, 8);
  out.write(text.data(), text.size());
  for (const auto* entry : order) out.write(entry->second.raw(), entry->second.nbytes());
  out.commit();
}

}  // namespace wl
