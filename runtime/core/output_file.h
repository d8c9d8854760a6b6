// Outputs that never replace what they should not, and never appear half
// written: the bytes go to a fresh temporary file beside the output
// (mkostemp, so never an existing file or a symlink planted there), are
// synced, and are renamed over the output when complete. An existing output
// that is not a regular file (a symlink, a device such as /dev/null, a FIFO,
// a directory) is refused by name instead of replaced. Errors are wl::Error
// naming the output and the reason (a full disk says "No space left on device").
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace wl {

class ReplacingFile {
 public:
  explicit ReplacingFile(const std::string& path);
  ~ReplacingFile();  // without commit(): the temporary file is removed, the output untouched
  ReplacingFile(const ReplacingFile&) = delete;
  ReplacingFile& operator=(const ReplacingFile&) = delete;

  void write(const void* data, size_t n);
  // Syncs, closes and renames the temporary file over the output.
  void commit();

 private:
  std::string final_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// `bytes` as the whole of `path`, through a ReplacingFile.
void write_file_replacing(const std::string& path, std::string_view bytes);

}  // namespace wl
