// `play --record FILE.mp4`: H.264 in a fragmented mp4, encoded in-process
// (app/record/mp4_writer.cpp). The files are opened and decoded here with
// FFmpeg's own libraries, as a player would: every frame is there at the
// right size and looks like the y4m of the same run, and a recording killed
// at a random moment, by SIGINT or by SIGKILL, still opens and plays the
// frames written before the kill.
#include <gtest/gtest.h>

#include "app/record/frame_writer.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

namespace {
namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("worldloop-mp4-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

struct Decoded {
  std::string error;  // empty: opened and read to the end
  int frames = 0, width = 0, height = 0;
  double fps = 0;
  std::vector<std::vector<uint8_t>> luma;  // [frames][height * width]
};

// Opens and decodes every frame; a read error ends the count where it happens.
Decoded decode(const fs::path& path) {
  Decoded d;
  AVFormatContext* fmt = nullptr;
  if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) return {"cannot open"};
  if (avformat_find_stream_info(fmt, nullptr) < 0) d.error = "no stream info";
  const int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (si < 0) {
    avformat_close_input(&fmt);
    return {"no video stream"};
  }
  const AVStream* st = fmt->streams[si];
  d.fps = av_q2d(st->avg_frame_rate);
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  AVCodecContext* dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(dec, st->codecpar);
  avcodec_open2(dec, codec, nullptr);
  AVPacket* pkt = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  auto drain = [&] {
    while (avcodec_receive_frame(dec, frame) == 0) {
      ++d.frames;
      d.width = frame->width;
      d.height = frame->height;
      std::vector<uint8_t> y(static_cast<size_t>(frame->width) * frame->height);
      for (int r = 0; r < frame->height; ++r)
        std::copy_n(frame->data[0] + r * frame->linesize[0], frame->width, y.data() + r * frame->width);
      d.luma.push_back(std::move(y));
    }
  };
  int rc;
  while ((rc = av_read_frame(fmt, pkt)) >= 0) {
    if (pkt->stream_index == si && avcodec_send_packet(dec, pkt) == 0) drain();
    av_packet_unref(pkt);
  }
  if (rc != AVERROR_EOF && d.error.empty()) d.error = "read error";
  avcodec_send_packet(dec, nullptr);
  drain();
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fmt);
  return d;
}

int run(const std::string& cmd) {
  const int rc = std::system((cmd + " 2>/dev/null").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

const std::string kPlay = std::string(WL_WORLDLOOP_EXE) + " play --headless --seed 3";

TEST(Mp4Recording, EveryFrameDecodesAtItsSizeAndLooksLikeTheY4m) {
  const fs::path dir = scratch("plain");
  const std::string config = " --config " + (dir / "config.json").string();
  ASSERT_EQ(run(kPlay + config + " --frames 40 --record-scale 2 --record " + (dir / "a.mp4").string()), 0);
  ASSERT_EQ(run(kPlay + config + " --frames 40 --record-scale 2 --record " + (dir / "a.y4m").string()), 0);
  const Decoded d = decode(dir / "a.mp4");
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.frames, 40);
  EXPECT_EQ(d.width, 128);
  EXPECT_EQ(d.height, 128);
  EXPECT_NEAR(d.fps, 30.0, 1e-6);  // the world's rate
  // The y4m holds full-range luma; H.264 limited range: y' = 16 + y * 219 / 255.
  const std::string y4m = read_all(dir / "a.y4m");
  size_t at = y4m.find('\n') + 1;
  double worst = 1e9;
  for (int f = 0; f < 40 && f < d.frames; ++f) {
    at = y4m.find('\n', at) + 1;  // "FRAME\n"
    double se = 0;
    for (size_t i = 0; i < 128 * 128; ++i) {
      const double want = 16.0 + static_cast<uint8_t>(y4m[at + i]) * 219.0 / 255.0;
      se += (d.luma[f][i] - want) * (d.luma[f][i] - want);
    }
    worst = std::min(worst, 10 * std::log10(255.0 * 255.0 / std::max(se / (128 * 128), 1e-9)));
    at += 128 * 128 * 3 / 2;
  }
  EXPECT_GT(worst, 30.0) << "dB: the mp4's frames are not the y4m's";
  fs::remove_all(dir);
}

// Starts a long recording, kills it `after` the first bytes of video, and
// returns the exit status.
int record_and_kill(const fs::path& file, int sig, std::chrono::milliseconds after, const fs::path& config) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    const std::string exe = WL_WORLDLOOP_EXE;
    execl(exe.c_str(), exe.c_str(), "play", "--headless", "--seed", "3", "--frames", "100000", "--config",
          config.c_str(), "--record", file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline && (!fs::exists(file, ec) || fs::file_size(file, ec) < 4096))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(after);
  kill(pid, sig);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(Mp4Recording, KilledAtARandomMomentItStillPlays) {
  const fs::path dir = scratch("kill");
  std::mt19937 rng(std::random_device{}());
  for (int sig : {SIGINT, SIGKILL}) {
    const auto after = std::chrono::milliseconds(200 + rng() % 1800);
    const fs::path file = dir / (std::string(sig == SIGINT ? "int" : "kill") + ".mp4");
    const int status = record_and_kill(file, sig, after, dir / "config.json");
    if (sig == SIGINT) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << status;
    } else {
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    }
    const Decoded d = decode(file);
    // SIGINT finishes the file; after SIGKILL the last fragment may be cut.
    if (sig == SIGINT) {
      EXPECT_EQ(d.error, "") << "killed after " << after.count() << " ms";
    }
    EXPECT_GE(d.frames, 2) << "killed after " << after.count() << " ms: " << d.error;
    EXPECT_EQ(d.width, 64);
    std::fprintf(stderr, "%s after %lld ms: %d frames play\n", sig == SIGINT ? "SIGINT" : "SIGKILL",
                 static_cast<long long>(after.count()), d.frames);
  }
  fs::remove_all(dir);
}

}  // namespace

namespace {

// A full disk: /dev/full fails every write with ENOSPC. The writers must
// say so, naming the file and the reason, and close without a crash.
TEST(Mp4Recording, AFullDiskIsAClearErrorNotACrash) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  std::vector<uint8_t> rgb(64 * 64 * 3, 128);
  for (const bool mp4 : {true, false}) {
    std::string error;
    try {
      auto w = mp4 ? wl::app::make_mp4_writer("/dev/full", 30.0) : wl::app::make_y4m_writer("/dev/full", 30.0);
      for (int i = 0; i < 200; ++i) {
        for (auto& v : rgb) v = static_cast<uint8_t>(v * 7 + i);  // frames that do not compress to nothing
        w->write(rgb.data(), {64, 64});
      }
      w->close();
    } catch (const std::exception& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("/dev/full"), std::string::npos) << (mp4 ? "mp4: " : "y4m: ") << error;
    EXPECT_NE(error.find("No space left on device"), std::string::npos) << (mp4 ? "mp4: " : "y4m: ") << error;
  }
}

}  // namespace
