#include "app/serve/jpeg_encoder.h"

#include <stdexcept>
#include <vector>

#include <turbojpeg.h>

namespace wl::app {

JpegEncoder::JpegEncoder(int quality) : quality_(quality) {
  if (quality < 1 || quality > 100)
    throw std::invalid_argument("JPEG quality must be 1..100, got " + std::to_string(quality));
  handle_ = tjInitCompress();
  if (!handle_) throw std::runtime_error(std::string("libjpeg-turbo: cannot start an encoder: ") + tjGetErrorStr());
}

JpegEncoder::~JpegEncoder() { tjDestroy(static_cast<tjhandle>(handle_)); }

std::string JpegEncoder::encode(const uint8_t* rgb, int width, int height) {
  if (width <= 0 || height <= 0 || width > 16384 || height > 16384)
    throw std::invalid_argument("JPEG: a " + std::to_string(width) + "x" + std::to_string(height) +
                                " frame is outside 1..16384 on a side");
  // tjBufSize is the worst case, so NOREALLOC never needs more.
  std::vector<unsigned char> buf(tjBufSize(width, height, TJSAMP_444));
  unsigned char* out = buf.data();
  unsigned long size = buf.size();
  if (tjCompress2(static_cast<tjhandle>(handle_), rgb, width, 0, height, TJPF_RGB, &out, &size, TJSAMP_444,
                  quality_, TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0)
    throw std::runtime_error(std::string("libjpeg-turbo: ") + tjGetErrorStr2(static_cast<tjhandle>(handle_)));
  return std::string(reinterpret_cast<const char*>(buf.data()), size);
}

}  // namespace wl::app
