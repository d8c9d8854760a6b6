#include "app/record/frame_writer.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <stdexcept>
#include <string>

#include <stb/stb_image_write.h>

namespace wl::app {

namespace {
// Case-insensitive: OUT.Y4M is a y4m file, not a directory of PNGs.
bool ends_with(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}
}  // namespace

std::unique_ptr<FrameWriter> open_frame_writer(const std::string& path, double fps) {
  if (path.empty()) throw std::runtime_error("empty recording path");
  if (!std::isfinite(fps) || fps <= 0 || fps > 1000)
    throw std::runtime_error("cannot record '" + path + "' at " + std::to_string(fps) + " frames/s (1e-3..1000)");
  if (ends_with(path, ".y4m") || ends_with(path, ".mp4")) check_output_file(path, "the recording");
  if (ends_with(path, ".y4m")) return make_y4m_writer(path, fps);
  if (ends_with(path, ".mp4")) return make_mp4_writer(path, fps);
  for (const char* video : {".avi", ".mkv", ".mov", ".webm", ".gif", ".png", ".jpg"})
    if (ends_with(path, video))
      throw std::runtime_error("cannot record to '" + path + "': give a directory (PNGs), FILE.y4m or FILE.mp4");
  return make_png_sequence_writer(path);
}

void write_png(const std::string& path, const uint8_t* rgb, int width, int height, int channels) {
  check_output_file(path, "the PNG");
  errno = 0;
  if (!stbi_write_png(path.c_str(), width, height, channels, rgb, width * channels))
    throw std::runtime_error("cannot write PNG '" + path + "'" + (errno ? std::string(": ") + std::strerror(errno) : ""));
}

void check_output_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // a new file
  if (S_ISREG(st.st_mode)) return;
  const char* kind = S_ISLNK(st.st_mode) ? "a symlink" : S_ISDIR(st.st_mode) ? "a directory"
                     : S_ISFIFO(st.st_mode) ? "a FIFO" : "a device or special file";
  throw std::runtime_error("'" + path + "' exists and is " + kind + "; not writing " + what +
                           " over it (remove it or choose another path)");
}

}  // namespace wl::app
