// Recording to .mp4 (H.264) in-process with FFmpeg's libraries: libswscale
// turns RGB8 into YUV 4:2:0, libavcodec's H.264 encoder (libx264 in
// Debian's build) compresses, libavformat's mp4 muxer writes a fragmented
// file. The Recorder calls it on its own thread.
//
// Never left corrupt: the moov box comes first (empty_moov) and every frame
// is its own fragment (frag_every_frame), flushed to the file as it is
// written, so a process killed at any moment (SIGKILL, power) leaves a file
// that plays up to the last frame written. SIGINT/SIGTERM and a closed window
// go through close(), which drains the encoder and writes the trailer. The
// encoder runs without lookahead or B-frames (zerolatency), so each frame
// is a packet as soon as it is encoded.
#include <algorithm>
#include <stdexcept>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "app/record/frame_writer.h"

namespace wl::app {

namespace {

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

class Mp4Writer final : public FrameWriter {
 public:
  Mp4Writer(std::string path, double fps) : path_(std::move(path)), fps_(fps > 0 ? fps : 30.0) {}
  ~Mp4Writer() override {
    try {
      close();
    } catch (...) {
    }
    release();
  }

  void write(const uint8_t* rgb, FrameFormat f) override {
    if (!opened_) {
      try {
        open(f);
      } catch (...) {
        release();  // a later frame tries again from nothing, and fails the same way
        throw;
      }
      opened_ = true;
    }
    if (f.width != format_.width || f.height != format_.height)
      throw std::runtime_error(path_ + ": the frame size changed during an mp4 recording");
    if (av_frame_make_writable(yuv_) < 0) throw std::runtime_error(path_ + ": out of memory for a frame");
    const uint8_t* src[1] = {rgb};
    const int stride[1] = {3 * f.width};
    sws_scale(sws_, src, stride, 0, f.height, yuv_->data, yuv_->linesize);
    yuv_->pts = frames_++;
    encode(yuv_);
  }

  void close() override {
    if (!opened_ || closed_) return;
    closed_ = true;
    encode(nullptr);  // drain
    const int rc = av_write_trailer(muxer_);
    if (rc < 0) throw std::runtime_error(path_ + ": cannot finish the mp4: " + av_error(rc));
    avio_flush(muxer_->pb);
  }

  std::string describe() const override {
    return path_ + " (" + std::to_string(frames_) + " frames, H.264 " + encoder_name_ + ")";
  }

 private:
  void fail(const std::string& what, int code) {
    throw std::runtime_error(path_ + ": " + what + (code < 0 ? ": " + av_error(code) : std::string()));
  }

  void open(FrameFormat f) {
    format_ = f;
    av_log_set_level(AV_LOG_ERROR);  // libx264's banner and settings are not the user's business
    // 4:2:0 needs even sizes; an odd one is scaled up by a pixel.
    const int w = (f.width + 1) & ~1, h = (f.height + 1) & ~1;
    const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_H264);
    if (!codec)
      throw std::runtime_error(path_ + ": this FFmpeg (libavcodec) has no H.264 encoder; record to .y4m instead");
    encoder_name_ = codec->name;
    int rc = avformat_alloc_output_context2(&muxer_, nullptr, "mp4", path_.c_str());
    if (rc < 0 || !muxer_) fail("cannot set up an mp4 file", rc);
    stream_ = avformat_new_stream(muxer_, nullptr);
    enc_ = avcodec_alloc_context3(codec);
    if (!stream_ || !enc_) fail("out of memory for the encoder", 0);
    const AVRational rate = av_d2q(fps_, 100000);
    enc_->width = w;
    enc_->height = h;
    enc_->pix_fmt = AV_PIX_FMT_YUV420P;
    enc_->time_base = av_inv_q(rate);
    enc_->framerate = rate;
    enc_->gop_size = std::max(1, static_cast<int>(fps_ + 0.5));  // a keyframe every second
    enc_->max_b_frames = 0;
    enc_->thread_count = 1;  // the model owns the cores; a 64x64 frame encodes in well under a millisecond
    if (muxer_->oformat->flags & AVFMT_GLOBALHEADER) enc_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (std::string(codec->name) == "libx264") {
      av_opt_set(enc_->priv_data, "preset", "veryfast", 0);
      av_opt_set(enc_->priv_data, "tune", "zerolatency", 0);
      av_opt_set(enc_->priv_data, "crf", "18", 0);
    }
    rc = avcodec_open2(enc_, codec, nullptr);
    if (rc < 0) fail("cannot open the " + encoder_name_ + " encoder", rc);
    rc = avcodec_parameters_from_context(stream_->codecpar, enc_);
    if (rc < 0) fail("cannot describe the video stream", rc);
    stream_->time_base = enc_->time_base;
    stream_->avg_frame_rate = rate;
    rc = avio_open(&muxer_->pb, path_.c_str(), AVIO_FLAG_WRITE);
    if (rc < 0) fail("cannot open the file for writing", rc);
    AVDictionary* opts = nullptr;
    av_dict_set(&opts, "movflags", "empty_moov+default_base_moof+frag_every_frame", 0);
    rc = avformat_write_header(muxer_, &opts);
    av_dict_free(&opts);
    if (rc < 0) fail("cannot write the mp4 header", rc);
    avio_flush(muxer_->pb);
    yuv_ = av_frame_alloc();
    packet_ = av_packet_alloc();
    if (!yuv_ || !packet_) fail("out of memory for a frame", 0);
    yuv_->format = AV_PIX_FMT_YUV420P;
    yuv_->width = w;
    yuv_->height = h;
    rc = av_frame_get_buffer(yuv_, 0);
    if (rc < 0) fail("out of memory for a frame", rc);
    // RGB8 (full range) to BT.601 limited-range YUV, as players expect for H.264.
    sws_ = sws_getContext(f.width, f.height, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr,
                          nullptr, nullptr);
    if (!sws_) fail("cannot set up the colour conversion", 0);
  }

  // Sends a frame (null: the end) and writes every packet that comes out,
  // each a fragment flushed to the file.
  void encode(AVFrame* frame) {
    int rc = avcodec_send_frame(enc_, frame);
    if (rc < 0) fail("the encoder refused a frame", rc);
    for (;;) {
      rc = avcodec_receive_packet(enc_, packet_);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) break;
      if (rc < 0) fail("the encoder failed", rc);
      av_packet_rescale_ts(packet_, enc_->time_base, stream_->time_base);
      packet_->stream_index = stream_->index;
      rc = av_interleaved_write_frame(muxer_, packet_);  // takes the packet's reference
      if (rc < 0) fail("cannot write to the file", rc);
      avio_flush(muxer_->pb);
      if (muxer_->pb->error < 0) fail("cannot write to the file", muxer_->pb->error);
    }
  }

  void release() {
    if (sws_) sws_freeContext(sws_);
    sws_ = nullptr;
    av_frame_free(&yuv_);
    av_packet_free(&packet_);
    avcodec_free_context(&enc_);
    if (muxer_) {
      if (muxer_->pb) avio_closep(&muxer_->pb);
      avformat_free_context(muxer_);
      muxer_ = nullptr;
    }
  }

  std::string path_;
  double fps_;
  FrameFormat format_;
  std::string encoder_name_;
  AVFormatContext* muxer_ = nullptr;
  AVStream* stream_ = nullptr;
  AVCodecContext* enc_ = nullptr;
  AVFrame* yuv_ = nullptr;
  AVPacket* packet_ = nullptr;
  SwsContext* sws_ = nullptr;
  int64_t frames_ = 0;
  bool opened_ = false;  // the header is written: close() may write the trailer
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<FrameWriter> make_mp4_writer(const std::string& path, double fps) {
  return std::make_unique<Mp4Writer>(path, fps);
}

}  // namespace wl::app
