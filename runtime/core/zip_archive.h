// ZIP archives as torch.save writes them: stored (uncompressed) entries whose
// data is memory-mapped, never copied.
//
// The reader trusts only the central directory (torch's writer leaves the
// local headers' sizes at 0 and puts them in data descriptors), reads the
// ZIP64 end record and per-entry ZIP64 extra fields, and takes each entry's
// data start from its local header's name and extra lengths. Every
// inconsistency becomes a wl::Error naming the file and the problem.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace wl {

struct ZipEntry {
  std::string name;
  uint64_t size = 0;         // bytes (stored: compressed == uncompressed)
  uint64_t data_offset = 0;  // from the start of the archive
};

class ZipArchive {
 public:
  // Maps `path` read-only and reads its directory.
  static ZipArchive open(const std::string& path);
  // Reads an in-memory image (tests, fuzzing); the bytes are copied once.
  static ZipArchive from_bytes(const std::string& label, const uint8_t* data, size_t size);

  const std::string& path() const { return path_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr when absent.
  const ZipEntry* find(const std::string& name) const;
  const uint8_t* data(const ZipEntry& e) const { return base_ + e.data_offset; }
  // Owner of the mapping: views into entries keep it alive.
  const std::shared_ptr<void>& mapping() const { return mapping_; }
  uint64_t file_size() const { return size_; }

  // True when the bytes start like a ZIP archive (local header or empty archive).
  static bool looks_like_zip(const uint8_t* data, size_t size);

 private:
  void read_directory();

  std::string path_;
  std::shared_ptr<void> mapping_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  std::vector<ZipEntry> entries_;
  std::map<std::string, size_t> index_;
};

// Maps a whole file read-only (shared by the checkpoint readers). Throws wl::Error.
std::shared_ptr<void> map_file(const std::string& path, uint64_t& size);

}  // namespace wl
