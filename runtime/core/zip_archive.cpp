// ZIP reader for torch.save archives (stored entries, ZIP64, mapped data).
// Layout facts: PKWARE APPNOTE 4.3 / 4.5; torch's miniz writer always adds a
// ZIP64 end record and pads each local header so data sits on 64 bytes.
#include "runtime/core/zip_archive.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "runtime/core/error.h"

namespace wl {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kLocator64Sig = 0x07064b50;
constexpr size_t kEndBytes = 22, kLocatorBytes = 20, kEnd64Bytes = 56, kCentralBytes = 46, kLocalBytes = 30;

[[noreturn]] void fail(const std::string& label, const std::string& problem) {
  throw Error(label + ": " + problem);
}

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t u32(const uint8_t* p) { return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24; }
uint64_t u64(const uint8_t* p) { return uint64_t{u32(p)} | uint64_t{u32(p + 4)} << 32; }

std::string printable_name(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 200; ++i) {
    auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x20 || b == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += std::string("\\x") + hex[b >> 4] + hex[b & 15];
    } else {
      out += static_cast<char>(b);
    }
  }
  return out;
}

}  // namespace

std::shared_ptr<void> map_file(const std::string& path, uint64_t& size) {
  // O_NONBLOCK: opening a FIFO returns at once (and fstat refuses it) instead of
  // waiting for a writer; a regular file reads as usual.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  size = static_cast<uint64_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    fail(path, "file is empty");
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);  // the mapping stays valid without the descriptor
  if (addr == MAP_FAILED) fail(path, "cannot map " + std::to_string(size) + " bytes: " + std::strerror(mmap_errno));
  const size_t n = size;
  return std::shared_ptr<void>(addr, [n](void* p) { ::munmap(p, n); });
}

bool ZipArchive::looks_like_zip(const uint8_t* data, size_t size) {
  return size >= 4 && (u32(data) == kLocalSig || u32(data) == kEndSig);
}

ZipArchive ZipArchive::open(const std::string& path) {
  ZipArchive z;
  z.path_ = path;
  z.mapping_ = map_file(path, z.size_);
  z.base_ = static_cast<const uint8_t*>(z.mapping_.get());
  z.read_directory();
  return z;
}

ZipArchive ZipArchive::from_bytes(const std::string& label, const uint8_t* data, size_t size) {
  ZipArchive z;
  z.path_ = label;
  // Exactly `size` bytes, 64-byte aligned: AddressSanitizer then sees a read
  // one byte past the image (the fuzz target and its corpus replay).
  constexpr std::align_val_t kAlign{64};
  void* p = ::operator new(std::max<size_t>(size, 1), kAlign, std::nothrow);
  if (!p) fail(label, "out of memory copying a " + std::to_string(size) + "-byte image");
  if (size) std::memcpy(p, data, size);
  z.mapping_ = std::shared_ptr<void>(p, [](void* q) { ::operator delete(q, kAlign); });
  z.base_ = static_cast<const uint8_t*>(p);
  z.size_ = size;
  z.read_directory();
  return z;
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

void ZipArchive::read_directory() {
  const std::string& L = path_;
  const uint8_t* b = base_;
  if (size_ < kEndBytes)
    fail(L, "file is " + std::to_string(size_) + " bytes, too short for a ZIP end record (truncated?)");

  // The end record: the last 22 bytes, or earlier by the length of a comment.
  uint64_t end_at = UINT64_MAX;
  const uint64_t lowest = size_ > kEndBytes + 0xFFFF ? size_ - kEndBytes - 0xFFFF : 0;
  for (uint64_t at = size_ - kEndBytes + 1; at-- > lowest;) {
    if (u32(b + at) == kEndSig && at + kEndBytes + u16(b + at + 20) == size_) {
      end_at = at;
      break;
    }
  }
  if (end_at == UINT64_MAX)
    fail(L, "no ZIP end-of-central-directory record at the end of the file (truncated, or not a ZIP archive)");
  const uint8_t* end = b + end_at;
  if (u16(end + 4) != 0 || u16(end + 6) != 0) fail(L, "multi-disk ZIP archives are not supported");
  uint64_t count = u16(end + 10), dir_size = u32(end + 12), dir_offset = u32(end + 16);
  const bool saturated = count == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF;
  uint64_t records_start = end_at;  // the directory must end before the end records

  if (end_at >= kLocatorBytes && u32(b + end_at - kLocatorBytes) == kLocator64Sig) {
    const uint8_t* loc = b + end_at - kLocatorBytes;
    const uint64_t end64_at = u64(loc + 8);
    if (u32(loc + 4) != 0 || u32(loc + 16) > 1) fail(L, "multi-disk ZIP64 archives are not supported");
    if (end64_at > end_at - kLocatorBytes || end_at - kLocatorBytes - end64_at < kEnd64Bytes)
      fail(L, "ZIP64 end record offset " + std::to_string(end64_at) + " is outside the file");
    const uint8_t* e64 = b + end64_at;
    if (u32(e64) != kEnd64Sig) fail(L, "bad ZIP64 end record signature at offset " + std::to_string(end64_at));
    const uint64_t count64 = u64(e64 + 32), size64 = u64(e64 + 40), offset64 = u64(e64 + 48);
    if ((count != 0xFFFF && count != count64) || (dir_size != 0xFFFFFFFF && dir_size != size64) ||
        (dir_offset != 0xFFFFFFFF && dir_offset != offset64))
      fail(L, "the ZIP end record and the ZIP64 end record disagree on the central directory");
    count = count64;
    dir_size = size64;
    dir_offset = offset64;
    records_start = end64_at;
  } else if (saturated) {
    fail(L, "the ZIP end record is saturated (a >4 GiB archive) but there is no ZIP64 end record locator");
  }
  if (dir_offset > records_start || dir_size > records_start - dir_offset)
    fail(L, "central directory [" + std::to_string(dir_offset) + ", +" + std::to_string(dir_size) +
                ") is outside the file (" + std::to_string(size_) + " bytes; truncated?)");
  if (count > dir_size / kCentralBytes)
    fail(L, "central directory claims " + std::to_string(count) + " entries but holds only " +
                std::to_string(dir_size) + " bytes");

  entries_.reserve(count);
  uint64_t at = dir_offset;
  const uint64_t dir_end = dir_offset + dir_size;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string where = "central directory entry " + std::to_string(i);
    if (dir_end - at < kCentralBytes) fail(L, where + " runs past the central directory");
    const uint8_t* c = b + at;
    if (u32(c) != kCentralSig) fail(L, where + ": bad signature (corrupt central directory)");
    const uint16_t flags = u16(c + 8), method = u16(c + 10);
    uint64_t compressed = u32(c + 20), uncompressed = u32(c + 24), local = u32(c + 42);
    const uint64_t name_len = u16(c + 28), extra_len = u16(c + 30), comment_len = u16(c + 32);
    if (dir_end - at - kCentralBytes < name_len + extra_len + comment_len)
      fail(L, where + ": name, extra and comment run past the central directory");
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(c + kCentralBytes), name_len);
    const std::string ew = "entry '" + printable_name(e.name) + "'";
    if (flags & 1) fail(L, ew + " is encrypted");
    if (method != 0)
      fail(L, ew + " is compressed (method " + std::to_string(method) +
                  "); torch.save stores entries uncompressed: was the file re-zipped?");

    // ZIP64 extra: 8-byte values for the saturated fields only, in this order.
    const bool need_u = uncompressed == 0xFFFFFFFF, need_c = compressed == 0xFFFFFFFF, need_l = local == 0xFFFFFFFF;
    if (need_u || need_c || need_l) {
      const uint8_t* x = c + kCentralBytes + name_len;
      const uint8_t* x_end = x + extra_len;
      bool found = false;
      while (x_end - x >= 4) {
        const uint16_t id = u16(x), len = u16(x + 2);
        if (static_cast<uint64_t>(x_end - x - 4) < len) fail(L, ew + ": extra field runs past its entry");
        if (id == 0x0001) {
          const uint64_t needed = 8 * (uint64_t{need_u} + need_c + need_l);
          if (len < needed) fail(L, ew + ": ZIP64 extra field holds " + std::to_string(len) + " bytes, needs " + std::to_string(needed));
          const uint8_t* v = x + 4;
          if (need_u) { uncompressed = u64(v); v += 8; }
          if (need_c) { compressed = u64(v); v += 8; }
          if (need_l) { local = u64(v); }
          found = true;
          break;
        }
        x += 4 + len;
      }
      if (!found) fail(L, ew + " has saturated sizes or offset but no ZIP64 extra field");
    }
    if (compressed != uncompressed)
      fail(L, ew + ": stored entry with compressed size " + std::to_string(compressed) +
                  " != uncompressed size " + std::to_string(uncompressed));
    if (local > dir_offset || dir_offset - local < kLocalBytes)
      fail(L, ew + ": local header offset " + std::to_string(local) + " is outside the data area");
    const uint8_t* lh = b + local;
    if (u32(lh) != kLocalSig) fail(L, ew + ": bad local header signature at offset " + std::to_string(local));
    const uint64_t data = local + kLocalBytes + u16(lh + 26) + u16(lh + 28);
    if (data > dir_offset || dir_offset - data < uncompressed)
      fail(L, ew + ": data [" + std::to_string(data) + ", +" + std::to_string(uncompressed) +
                  ") runs past the data area (truncated file or absurd size)");
    e.size = uncompressed;
    e.data_offset = data;
    if (!index_.emplace(e.name, entries_.size()).second) fail(L, ew + " appears twice");
    entries_.push_back(std::move(e));
    at += kCentralBytes + name_len + extra_len + comment_len;
  }

  // Entries own disjoint byte ranges (header through data).
  std::vector<size_t> order(entries_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return entries_[x].data_offset < entries_[y].data_offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const ZipEntry& prev = entries_[order[k - 1]];
    const ZipEntry& cur = entries_[order[k]];
    if (cur.data_offset < prev.data_offset + prev.size)
      fail(L, "entries '" + printable_name(prev.name) + "' and '" + printable_name(cur.name) + "' overlap");
  }
}

}  // namespace wl
