// How `worldloop play` picks its backend and its frame path (app/loop/frame_path.h),
// and the device path's seam through the model thread (app/sources/device_frames.h):
// frames carry ring-slot handles instead of bytes, bytes only while a
// recording asks for them, and every slot comes back when its frames go.
// Runs without a GPU: the sink here only counts the slots it hands out.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "app/loop/frame_mailbox.h"
#include "app/loop/frame_path.h"
#include "app/loop/input_queue.h"
#include "app/loop/world_loop.h"
#include "app/sources/world_source.h"
#include "runtime/core/error.h"
#include "tests/support/golden.h"
#include "tests/support/random_world.h"

namespace wl::app {
namespace {

TEST(FramePath, BackendFlag) {
  EXPECT_EQ(choose_backend("cpu", true, ""), Backend::CPU);
  EXPECT_EQ(choose_backend("cpu", false, "no CUDA device: none"), Backend::CPU);
  EXPECT_EQ(choose_backend("auto", true, ""), Backend::CUDA);
  EXPECT_EQ(choose_backend("auto", false, "no CUDA device: none"), Backend::CPU);
  EXPECT_EQ(choose_backend("cuda", true, ""), Backend::CUDA);
  try {
    choose_backend("cuda", false, "no CUDA device: driver missing");
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("driver missing"), std::string::npos) << e.what();
  }
  EXPECT_THROW(choose_backend("vulkan", true, ""), std::invalid_argument);
}

// Everything in place for the device path.
FramePathInputs device_ready() {
  FramePathInputs in;
  in.window = true;
  in.backend = Backend::CUDA;
  in.source_on_device = true;
  in.hand_off_built = true;
  return in;
}

TEST(FramePath, DevicePathOnlyWhenEverythingAllowsIt) {
  const FramePathChoice device = choose_frame_path(device_ready());
  EXPECT_EQ(device.path, FramePath::Device);
  EXPECT_NE(describe(device).find("device path"), std::string::npos) << describe(device);

  struct Case {
    const char* what;
    FramePathInputs in;
    const char* reason_has;
  };
  std::vector<Case> cases;
  FramePathInputs in = device_ready();
  in.window = false;
  cases.push_back({"headless", in, "headless"});
  in = device_ready();
  in.backend = Backend::CPU;  // --backend cpu, or auto without a CUDA device
  in.source_on_device = false;
  cases.push_back({"cpu backend", in, "CPU backend"});
  in = device_ready();
  in.source_on_device = false;  // the test pattern, the oracle
  cases.push_back({"cpu source", in, "source"});
  in = device_ready();
  in.hand_off_built = false;
  cases.push_back({"not built", in, "binary"});
  in = device_ready();
  in.presenter_cannot = "the Vulkan device has no CUDA hand-off: llvmpipe lacks VK_KHR_external_semaphore_fd";
  cases.push_back({"no interop (lavapipe)", in, "VK_KHR_external_semaphore_fd"});
  in = device_ready();
  in.presenter_cannot = "the window's Vulkan device (Other GPU) is not the CUDA device";
  cases.push_back({"another GPU", in, "not the CUDA device"});
  for (const Case& c : cases) {
    const FramePathChoice got = choose_frame_path(c.in);
    EXPECT_EQ(got.path, FramePath::Host) << c.what;
    EXPECT_NE(got.reason.find(c.reason_has), std::string::npos) << c.what << ": " << got.reason;
    EXPECT_NE(describe(got).find("host path"), std::string::npos) << describe(got);
  }
  // Headless wins over everything else: the first reason is given.
  in = FramePathInputs{};
  EXPECT_NE(choose_frame_path(in).reason.find("headless"), std::string::npos);
}

// Hands out slots round the ring and counts those still held by a frame.
class CountingSink final : public DeviceFrameSink {
 public:
  int width() const override { return 4; }
  int height() const override { return 2; }
  std::vector<DeviceFrameRef> write(const Tensor& rgb) override {
    ++ready_;
    std::vector<DeviceFrameRef> out;
    for (int64_t f = 0; f < rgb.dim(0); ++f) {
      ++*held_;
      out.emplace_back(new DeviceFrame{next_slot_++ % 64, ready_}, [held = held_](const DeviceFrame* p) {
        --*held;
        delete p;
      });
    }
    return out;
  }
  int held() const { return *held_; }

 private:
  std::shared_ptr<int> held_ = std::make_shared<int>(0);
  int next_slot_ = 0;
  uint64_t ready_ = 0;
};

// A source that "decodes on the device": frames go to the sink, bytes only on request.
class DeviceSource final : public FrameSource {
 public:
  FrameFormat format() const override { return {4, 2}; }
  int chunk_frames() const override { return 3; }
  double nominal_fps() const override { return 1000.0; }
  void reset(uint64_t, const std::string&) override {}
  void set_prompt(const std::string&) override {}
  bool decodes_on_device() const override { return true; }
  void set_device_sink(DeviceFrameSink* sink) override { sink_ = sink; }
  std::vector<DeviceFrameRef> take_device_frames() override { return std::exchange(frames_, {}); }
  ChunkStats next_chunk(const ChunkRequest& req, std::vector<uint8_t>& rgb) override {
    const int64_t n = static_cast<int64_t>(req.actions.size());
    rgb.clear();
    if (sink_) frames_ = sink_->write(Tensor::zeros({n, 3, 2, 4}));
    if (!sink_ || req.need_rgb) rgb.assign(static_cast<size_t>(n) * format().bytes(), 7);
    return {};
  }

 private:
  DeviceFrameSink* sink_ = nullptr;
  std::vector<DeviceFrameRef> frames_;
};

std::vector<Frame> play(FrameSource& source, int64_t frames, bool need_rgb) {
  InputQueue inputs;
  FrameMailbox mailbox(FrameMailbox::Mode::Lossless, 16);
  WorldLoopOptions opt;
  opt.pacing = WorldLoopOptions::Pacing::Lockstep;
  opt.max_frames = frames;
  WorldLoop loop(source, inputs, mailbox, opt);
  loop.set_need_rgb(need_rgb);
  for (int64_t f = 0; f < frames + 3; ++f) {  // lockstep waits for a whole chunk's samples
    InputEvent e;
    e.kind = InputEvent::Kind::Actions;
    e.time = Clock::now();
    e.frame = f;
    inputs.push(e);
  }
  loop.start();
  std::vector<Frame> out;
  while (static_cast<int64_t>(out.size()) < frames) {
    auto f = mailbox.pop_next(Clock::now() + std::chrono::seconds(5));
    if (!f) break;
    out.push_back(std::move(*f));
  }
  loop.stop();
  EXPECT_EQ(loop.status().error, "");
  return out;
}

TEST(DeviceFrames, TheLoopPublishesSlotHandlesInsteadOfBytes) {
  DeviceSource source;
  CountingSink sink;
  source.set_device_sink(&sink);
  {
    const std::vector<Frame> frames = play(source, 7, /*need_rgb=*/false);  // the last chunk is cut short
    ASSERT_EQ(frames.size(), 7u);
    for (size_t i = 0; i < frames.size(); ++i) {
      ASSERT_TRUE(frames[i].device) << i;
      EXPECT_FALSE(frames[i].rgb) << i;
      EXPECT_EQ(frames[i].device->ready_value, i / 3 + 1) << "one ready value per chunk, frame " << i;
      EXPECT_EQ(frames[i].device->slot, static_cast<int>(i)) << i;
    }
    EXPECT_EQ(sink.held(), 7) << "the two frames of the cut chunk that were never published gave their slots back";
  }
  EXPECT_EQ(sink.held(), 0) << "every slot comes back when its frame goes";
}

TEST(DeviceFrames, RecordingAlsoGetsBytes) {
  DeviceSource source;
  CountingSink sink;
  source.set_device_sink(&sink);
  const std::vector<Frame> frames = play(source, 6, /*need_rgb=*/true);
  ASSERT_EQ(frames.size(), 6u);
  for (const Frame& f : frames) {
    ASSERT_TRUE(f.device);
    ASSERT_TRUE(f.rgb);
    EXPECT_EQ(f.pixels()[0], 7);
  }
}

TEST(DeviceFrames, HostSourcesAndCpuWorldsRefuseASink) {
  CountingSink sink;
  const std::string dir = test::temp_dir() + "/frame-path-world";
  testref::write_random_world(dir);
  WorldSourceOptions o;
  o.dir = dir;
  o.dit.precision = ops::MatmulPrecision::F32;  // dit.backend stays the CPU: so does the decoder
  WorldSource world(o);
  EXPECT_FALSE(world.decodes_on_device());
  EXPECT_THROW(world.set_device_sink(&sink), Error);
  EXPECT_TRUE(world.take_device_frames().empty());

  class HostOnly final : public FrameSource {
   public:
    FrameFormat format() const override { return {4, 2}; }
    int chunk_frames() const override { return 1; }
    double nominal_fps() const override { return 30.0; }
    void reset(uint64_t, const std::string&) override {}
    void set_prompt(const std::string&) override {}
    ChunkStats next_chunk(const ChunkRequest&, std::vector<uint8_t>&) override { return {}; }
  } host;
  EXPECT_FALSE(host.decodes_on_device());
  EXPECT_THROW(host.set_device_sink(&sink), std::logic_error);
  EXPECT_NO_THROW(host.set_device_sink(nullptr));
}

}  // namespace
}  // namespace wl::app
