#include "runtime/core/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "runtime/core/error.h"

namespace wl {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& problem) { throw Error(path + ": " + problem); }

std::string os_reason() { return std::strerror(errno); }

}  // namespace

ReplacingFile::ReplacingFile(const std::string& path) : final_(path) {
  struct stat st {};
  if (::lstat(final_.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    fail(final_, std::string("exists and is ") +
                     (S_ISLNK(st.st_mode) ? "a symlink" : S_ISDIR(st.st_mode) ? "a directory"
                      : S_ISFIFO(st.st_mode) ? "a FIFO" : "a device or special file") +
                     "; not replacing it (remove it or write elsewhere)");
  std::string name = final_ + ".tmp.XXXXXX";
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) fail(final_, "cannot create a temporary file beside it: " + os_reason());
  tmp_ = name;
  ::fchmod(fd_, 0644);
}

ReplacingFile::~ReplacingFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void ReplacingFile::write(const void* data, size_t n) {
  auto p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(final_, "cannot write " + tmp_ + ": " + os_reason());
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// fsync before rename, so a crash never leaves a complete-looking but empty file.
void ReplacingFile::commit() {
  if (::fsync(fd_) != 0) fail(final_, "cannot sync " + tmp_ + ": " + os_reason());
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail(final_, "cannot close " + tmp_ + ": " + os_reason());
  if (::rename(tmp_.c_str(), final_.c_str()) != 0) fail(final_, "cannot rename " + tmp_ + " into place: " + os_reason());
  committed_ = true;
}

void write_file_replacing(const std::string& path, std::string_view bytes) {
  ReplacingFile out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

}  // namespace wl
