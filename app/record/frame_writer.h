// Where recorded frames go. open_frame_writer() picks by path:
//   ends in .y4m  -> a YUV4MPEG2 video (4:2:0, full range), written directly;
//   ends in .mp4  -> H.264 in a fragmented mp4, encoded in-process (libavcodec);
//   anything else -> a directory of numbered PNGs (frame_000000.png, ...).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "app/sources/frame_source.h"

namespace wl::app {

class FrameWriter {
 public:
  virtual ~FrameWriter() = default;
  virtual void write(const uint8_t* rgb, FrameFormat format) = 0;  // throws on I/O failure
  virtual void close() = 0;
  virtual std::string describe() const = 0;
};

std::unique_ptr<FrameWriter> open_frame_writer(const std::string& path, double fps);

std::unique_ptr<FrameWriter> make_png_sequence_writer(const std::string& dir);
std::unique_ptr<FrameWriter> make_y4m_writer(const std::string& path, double fps);
// H.264 in a fragmented mp4 through FFmpeg's libraries, playable after a kill (mp4_writer.cpp).
std::unique_ptr<FrameWriter> make_mp4_writer(const std::string& path, double fps);

// Upscaling in front of any writer (--record-scale N, --record-filter).
enum class RecordFilter { Nearest, Linear };
inline constexpr int kMaxRecordScale = 16;
std::unique_ptr<FrameWriter> make_scaled_writer(std::unique_ptr<FrameWriter> inner, int scale, RecordFilter filter);

// Writes one RGB8 image as PNG (stb_image_write); throws on failure.
void write_png(const std::string& path, const uint8_t* rgb, int width, int height, int channels = 3);

// An output file may be created or replace a regular file, nothing else: a
// symlink, a device (/dev/null), a FIFO or a directory there is refused by
// name (writing through a symlink would overwrite its target). `what`: "the
// recording", "the screenshot".
void check_output_file(const std::string& path, const std::string& what);

}  // namespace wl::app
