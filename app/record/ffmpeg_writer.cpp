// Recording to .mp4 by piping raw RGB frames to the ffmpeg program.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

#include "app/record/frame_writer.h"

namespace wl::app {

namespace {

bool program_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::error_code ec;
    const auto p = std::filesystem::path(dir) / name;
    if (std::filesystem::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

class FfmpegWriter final : public FrameWriter {
 public:
  FfmpegWriter(std::string path, double fps) : path_(std::move(path)), fps_(fps) {}
  ~FfmpegWriter() override { close(); }

  void write(const uint8_t* rgb, FrameFormat f) override {
    if (!pipe_) {
      std::ostringstream cmd;
      cmd << "ffmpeg -loglevel error -y -f rawvideo -pix_fmt rgb24 -s " << f.width << "x" << f.height
          << " -r " << fps_ << " -i - -c:v libx264 -pix_fmt yuv420p -crf 18 " << shell_quote(path_);
      pipe_ = popen(cmd.str().c_str(), "w");
      if (!pipe_) throw std::runtime_error("cannot start ffmpeg");
      format_ = f;
    }
    if (f.width != format_.width || f.height != format_.height)
      throw std::runtime_error("frame size changed during an mp4 recording");
    if (std::fwrite(rgb, 1, f.bytes(), pipe_) != f.bytes()) throw std::runtime_error("ffmpeg stopped taking frames");
    ++frames_;
  }
  void close() override {
    if (pipe_) {
      const int rc = pclose(pipe_);
      pipe_ = nullptr;
      if (rc != 0) std::fprintf(stderr, "worldloop: ffmpeg exited with status %d writing %s\n", rc, path_.c_str());
    }
  }
  std::string describe() const override { return path_ + " (" + std::to_string(frames_) + " frames via ffmpeg)"; }

 private:
  std::string path_;
  double fps_;
  std::FILE* pipe_ = nullptr;
  FrameFormat format_;
  int64_t frames_ = 0;
};

}  // namespace

std::unique_ptr<FrameWriter> make_ffmpeg_writer(const std::string& path, double fps) {
  if (!program_on_path("ffmpeg"))
    throw std::runtime_error("recording to .mp4 needs the 'ffmpeg' program, which is not on PATH; "
                             "record to a .y4m file or a directory of PNGs instead");
  return std::make_unique<FfmpegWriter>(path, fps);
}

}  // namespace wl::app
