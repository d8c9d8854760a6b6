// Recording to a directory of numbered PNGs.
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "app/record/frame_writer.h"

namespace wl::app {

namespace {

class PngSequenceWriter final : public FrameWriter {
 public:
  explicit PngSequenceWriter(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (!std::filesystem::is_directory(dir_))
      throw std::runtime_error("cannot create recording directory '" + dir_ + "'");
  }
  void write(const uint8_t* rgb, FrameFormat f) override {
    char name[32];
    std::snprintf(name, sizeof name, "frame_%06lld.png", static_cast<long long>(next_++));
    write_png((std::filesystem::path(dir_) / name).string(), rgb, f.width, f.height);
  }
  void close() override {}
  std::string describe() const override { return dir_ + "/ (" + std::to_string(next_) + " PNGs)"; }

 private:
  std::string dir_;
  int64_t next_ = 0;
};

}  // namespace

std::unique_ptr<FrameWriter> make_png_sequence_writer(const std::string& dir) {
  return std::make_unique<PngSequenceWriter>(dir);
}

}  // namespace wl::app
