// Recording to a YUV4MPEG2 file: 4:2:0 (chroma averaged over 2x2), BT.601
// full-range ("C420jpeg"), readable by ffmpeg, mpv and most players.
#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "app/record/frame_writer.h"

namespace wl::app {

namespace {

uint8_t clamp8(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

class Y4mWriter final : public FrameWriter {
 public:
  Y4mWriter(std::string path, double fps) : path_(std::move(path)), fps_(fps) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) throw std::runtime_error("cannot create '" + path_ + "': " + std::strerror(errno));
  }
  ~Y4mWriter() override { close(); }

  void write(const uint8_t* rgb, FrameFormat f) override {
    if (!file_) throw std::runtime_error("recording '" + path_ + "' is closed");
    if (f.width % 2 || f.height % 2) throw std::runtime_error("y4m 4:2:0 needs even frame sizes");
    if (frames_ == 0) {
      format_ = f;
      std::fprintf(file_, "YUV4MPEG2 W%d H%d F%d:1000 Ip A1:1 C420jpeg\n", f.width, f.height,
                   static_cast<int>(std::lround(fps_ * 1000)));
    } else if (f.width != format_.width || f.height != format_.height) {
      throw std::runtime_error("frame size changed during a y4m recording");
    }
    const int w = f.width, h = f.height;
    y_.resize(static_cast<size_t>(w) * h);
    u_.resize(static_cast<size_t>(w / 2) * (h / 2));
    v_.resize(u_.size());
    for (int i = 0; i < w * h; ++i) {
      const uint8_t* p = rgb + i * 3;
      y_[static_cast<size_t>(i)] = clamp8(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
    }
    for (int y = 0; y < h / 2; ++y)
      for (int x = 0; x < w / 2; ++x) {
        double r = 0, g = 0, b = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) {
            const uint8_t* p = rgb + ((static_cast<size_t>(2 * y + dy) * w) + 2 * x + dx) * 3;
            r += p[0], g += p[1], b += p[2];
          }
        r /= 4, g /= 4, b /= 4;
        const size_t i = static_cast<size_t>(y) * (w / 2) + x;
        u_[i] = clamp8(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
        v_[i] = clamp8(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
      }
    std::fputs("FRAME\n", file_);
    if (std::fwrite(y_.data(), 1, y_.size(), file_) != y_.size() ||
        std::fwrite(u_.data(), 1, u_.size(), file_) != u_.size() ||
        std::fwrite(v_.data(), 1, v_.size(), file_) != v_.size())
      throw std::runtime_error("write to '" + path_ + "' failed: " + std::strerror(errno));
    ++frames_;
  }
  void close() override {
    if (file_) std::fclose(file_);
    file_ = nullptr;
  }
  std::string describe() const override { return path_ + " (" + std::to_string(frames_) + " frames)"; }

 private:
  std::string path_;
  double fps_;
  std::FILE* file_ = nullptr;
  FrameFormat format_;
  int64_t frames_ = 0;
  std::vector<uint8_t> y_, u_, v_;
};

}  // namespace

std::unique_ptr<FrameWriter> make_y4m_writer(const std::string& path, double fps) {
  return std::make_unique<Y4mWriter>(path, fps);
}

}  // namespace wl::app
