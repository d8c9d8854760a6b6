#include "app/record/frame_writer.h"

#include <stdexcept>

#include <stb/stb_image_write.h>

namespace wl::app {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

std::unique_ptr<FrameWriter> open_frame_writer(const std::string& path, double fps) {
  if (path.empty()) throw std::runtime_error("empty recording path");
  if (ends_with(path, ".y4m")) return make_y4m_writer(path, fps);
  if (ends_with(path, ".mp4")) return make_ffmpeg_writer(path, fps);
  return make_png_sequence_writer(path);
}

void write_png(const std::string& path, const uint8_t* rgb, int width, int height, int channels) {
  if (!stbi_write_png(path.c_str(), width, height, channels, rgb, width * channels))
    throw std::runtime_error("cannot write PNG '" + path + "'");
}

}  // namespace wl::app
