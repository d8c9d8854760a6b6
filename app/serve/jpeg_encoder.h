// RGB8 frames to baseline JPEG with libjpeg-turbo (the browser's frame format
// in `worldloop serve`). One encoder per thread: the handle is not shared.
#pragma once

#include <cstdint>
#include <string>

namespace wl::app {

class JpegEncoder {
 public:
  explicit JpegEncoder(int quality = 90);  // 1..100; throws on a bad quality or no handle
  ~JpegEncoder();
  JpegEncoder(const JpegEncoder&) = delete;
  JpegEncoder& operator=(const JpegEncoder&) = delete;

  // Tightly packed RGB8, top row first; 4:4:4 so that 1-pixel detail of a
  // small world survives. Throws with libjpeg-turbo's message on failure.
  std::string encode(const uint8_t* rgb, int width, int height);

 private:
  void* handle_ = nullptr;  // tjhandle
  int quality_;
};

}  // namespace wl::app
