// Upscaled recording (--record-scale N): each frame is enlarged N times before
// the wrapped writer sees it, so a 64x64 world records as something people can
// watch. Nearest repeats each pixel in an N x N block (exact colours, hard
// edges); linear interpolates between pixel centres, with the edges clamped.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "app/record/frame_writer.h"

namespace wl::app {
namespace {

class ScaledWriter final : public FrameWriter {
 public:
  ScaledWriter(std::unique_ptr<FrameWriter> inner, int scale, RecordFilter filter)
      : inner_(std::move(inner)), scale_(scale), filter_(filter) {}

  void write(const uint8_t* rgb, FrameFormat f) override {
    const int w = f.width * scale_, h = f.height * scale_;
    out_.resize(static_cast<size_t>(w) * h * 3);
    if (filter_ == RecordFilter::Nearest) {
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          const uint8_t* s = rgb + (static_cast<size_t>(y / scale_) * f.width + x / scale_) * 3;
          std::copy(s, s + 3, &out_[(static_cast<size_t>(y) * w + x) * 3]);
        }
    } else {
      for (int y = 0; y < h; ++y) {
        // The output pixel centre in source pixel coordinates.
        const double sy = std::clamp((y + 0.5) / scale_ - 0.5, 0.0, f.height - 1.0);
        const int y0 = static_cast<int>(sy), y1 = std::min(y0 + 1, f.height - 1);
        const double fy = sy - y0;
        for (int x = 0; x < w; ++x) {
          const double sx = std::clamp((x + 0.5) / scale_ - 0.5, 0.0, f.width - 1.0);
          const int x0 = static_cast<int>(sx), x1 = std::min(x0 + 1, f.width - 1);
          const double fx = sx - x0;
          for (int c = 0; c < 3; ++c) {
            auto at = [&](int yy, int xx) { return static_cast<double>(rgb[(static_cast<size_t>(yy) * f.width + xx) * 3 + c]); };
            const double v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
            out_[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(std::lround(v));
          }
        }
      }
    }
    inner_->write(out_.data(), FrameFormat{w, h});
  }
  void close() override { inner_->close(); }
  std::string describe() const override {
    return inner_->describe() + ", upscaled " + std::to_string(scale_) + "x (" +
           (filter_ == RecordFilter::Nearest ? "nearest" : "linear") + ")";
  }

 private:
  std::unique_ptr<FrameWriter> inner_;
  const int scale_;
  const RecordFilter filter_;
  std::vector<uint8_t> out_;
};

}  // namespace

std::unique_ptr<FrameWriter> make_scaled_writer(std::unique_ptr<FrameWriter> inner, int scale, RecordFilter filter) {
  if (scale < 1 || scale > kMaxRecordScale)
    throw std::runtime_error("--record-scale must be 1.." + std::to_string(kMaxRecordScale) + ", got " +
                             std::to_string(scale));
  if (scale == 1) return inner;
  return std::make_unique<ScaledWriter>(std::move(inner), scale, filter);
}

}  // namespace wl::app
