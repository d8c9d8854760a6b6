// The CUDA <-> Vulkan frame hand-off (render/cuda_vk_interop.h, runtime/cuda/vk_import.h), the parts
// that need no GPU. CudaVkInterop.* (a CUDA device) are in tests/gpu/test_cuda_vk_interop.cpp.
//
// VkInterop.*: Vulkan side on any device, lavapipe included (headless, no
// window): exportable memory fds, timeline semaphores signalled from the host,
// and a presenter-style submit that waits on the ready timeline before its
// copy. The ring's bookkeeping (FrameRingBook) is tested on its own, with no
// device.
// VkInteropExport.*: what needs the whole interop set, which lavapipe lacks
// (VK_KHR_external_semaphore_fd in Mesa 22): they skip with the missing
// extension named, and carry the ctest label `vk-interop` so that a run
// without such a device can leave them out (`ctest -LE 'gpu|vk-interop'`).
// CudaVkImportNoDevice.*: the import without a CUDA device is a clear error.
// CudaVkInterop.*: CUDA imports the Vulkan ring and the two sides hand a frame
// over; ctest label `gpu` (tests/CMakeLists.txt); skips without a device.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/core/error.h"

#if defined(WORLDLOOP_HAS_VULKAN)
#include "render/cuda_vk_interop.h"
#include "render/frame_ring_book.h"
#include "render/vk_check.h"
#include "render/vk_exportable.h"
#include "render/vk_interop_device.h"
#include "tests/support/vk_test_device.h"
#endif
#if defined(WORLDLOOP_HAS_CUDA)
#include <cuda_runtime.h>

#include "runtime/cuda/cuda_device.h"
#include "runtime/cuda/vk_import.h"
#endif

namespace {

bool fd_is_open(int fd) { return fd >= 0 && ::fcntl(fd, F_GETFD) != -1; }

}  // namespace

#if defined(WORLDLOOP_HAS_VULKAN)

namespace {

using namespace wl::test;
using wl::render::ExportableBuffer;
using wl::render::HeadlessVkDevice;
using wl::render::InteropDevice;
using wl::render::TimelineSemaphore;

TEST(VkInterop, ExportsFrameMemoryAsOpaqueFd) {
  WL_NEED_VK_DEVICE(dev);
  const InteropDevice& d = dev->interop();
  if (!d.enabled.external_memory_fd)
    GTEST_SKIP() << dev->device_name() << " lacks " VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME;
  ExportableBuffer buf(d, 64 * 48 * 4);
  EXPECT_EQ(buf.size(), 64u * 48 * 4);
  EXPECT_GE(buf.allocation_size(), buf.size());
  const int fd = buf.export_fd();
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(fd_is_open(fd));
  const int fd2 = buf.export_fd();  // every export is a new fd the caller owns
  ASSERT_GE(fd2, 0);
  EXPECT_NE(fd, fd2);
  ::close(fd);
  ::close(fd2);
}

TEST(VkInterop, TimelineSignalledFromHostIsSeenByWait) {
  WL_NEED_VK_DEVICE(dev);
  const InteropDevice& d = dev->interop();
  if (!d.enabled.timeline_semaphore) GTEST_SKIP() << dev->device_name() << " lacks timeline semaphores";
  // Exportable where the device can (the hand-off's case), plain otherwise (lavapipe).
  TimelineSemaphore tl(d, d.enabled.external_semaphore_fd);
  EXPECT_EQ(tl.value(), 0u);
  EXPECT_FALSE(tl.wait(1, 0));
  tl.signal(1);
  EXPECT_TRUE(tl.wait(1, 0));
  EXPECT_EQ(tl.value(), 1u);

  // A wait blocked on a value another thread signals later.
  std::thread signaller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    tl.signal(5);
  });
  const bool reached = tl.wait(5, 10'000'000'000ull);
  signaller.join();
  EXPECT_TRUE(reached);
  EXPECT_EQ(tl.value(), 5u);
  EXPECT_TRUE(tl.wait(3, 0));  // lower values are reached too
}

TEST(VkInteropExport, ExportsTimelineSemaphoreAsOpaqueFd) {
  WL_NEED_VK_DEVICE(dev);
  const InteropDevice& d = dev->interop();
  if (!d.enabled.timeline_semaphore || !d.enabled.external_semaphore_fd)
    GTEST_SKIP() << dev->device_name() << " lacks " << d.enabled.missing();
  TimelineSemaphore tl(d, /*exportable=*/true);
  const int fd = tl.export_fd();
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(fd_is_open(fd));
  ::close(fd);
  tl.signal(2);
  EXPECT_TRUE(tl.wait(2, 0));
}

TEST(VkInterop, PlainTimelineCannotBeExported) {
  WL_NEED_VK_DEVICE(dev);
  const InteropDevice& d = dev->interop();
  if (!d.enabled.timeline_semaphore) GTEST_SKIP() << dev->device_name() << " lacks timeline semaphores";
  TimelineSemaphore tl(d, /*exportable=*/false);
  EXPECT_THROW(tl.export_fd(), wl::Error);
}

TEST(VkInterop, MissingExtensionsAreNamed) {
  // A device created without the interop extensions: every entry point says what is missing.
  WL_NEED_VK_DEVICE(dev);
  InteropDevice bare = dev->interop();
  bare.enabled = {};
  try {
    ExportableBuffer buf(bare, 1024);
    FAIL() << "expected wl::Error";
  } catch (const wl::Error& e) {
    EXPECT_NE(std::string(e.what()).find(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME), std::string::npos) << e.what();
  }
  try {
    TimelineSemaphore tl(bare, false);
    FAIL() << "expected wl::Error";
  } catch (const wl::Error& e) {
    EXPECT_NE(std::string(e.what()).find("timeline"), std::string::npos) << e.what();
  }
  wl::render::VkFrameExporter exporter(bare);
  try {
    exporter.create_exportable_frames(3, 64, 48);
    FAIL() << "expected wl::Error";
  } catch (const wl::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(VK_KHR_EXTERNAL_SEMAPHORE_FD_EXTENSION_NAME), std::string::npos) << msg;
    EXPECT_NE(msg.find(VK_KHR_EXTERNAL_MEMORY_FD_EXTENSION_NAME), std::string::npos) << msg;
  }
}

TEST(VkInteropExport, ExportableFrameRing) {
  WL_NEED_VK_DEVICE(dev);
  const InteropDevice& d = dev->interop();
  wl::render::VkFrameExporter exporter(d);
  if (!d.enabled.complete()) {
    EXPECT_THROW(exporter.create_exportable_frames(3, 64, 48), wl::Error);
    GTEST_SKIP() << dev->device_name() << " lacks " << d.enabled.missing() << " (checked: a clear wl::Error)";
  }
  wl::render::SharedFrameRing ring = exporter.create_exportable_frames(3, 64, 48);
  ASSERT_EQ(ring.slots.size(), 3u);
  EXPECT_EQ(ring.width, 64);
  EXPECT_EQ(ring.height, 48);
  for (const auto& s : ring.slots) {
    EXPECT_TRUE(fd_is_open(s.memory_fd));
    EXPECT_EQ(s.size, 64u * 48 * 4);
    EXPECT_GE(s.allocation_size, s.offset + s.size);
  }
  EXPECT_TRUE(fd_is_open(ring.timeline_semaphore_fd));
  EXPECT_TRUE(fd_is_open(ring.release_semaphore_fd));
  const int fd0 = ring.slots[0].memory_fd;
  wl::render::close_ring_fds(ring);
  EXPECT_FALSE(fd_is_open(fd0));
  EXPECT_EQ(ring.timeline_semaphore_fd, -1);
}

TEST(VkInteropExport, RingBookkeepingKeepsPresentedSlotsAwayFromTheDecoder) {
  WL_NEED_VK_DEVICE(dev);
  const InteropDevice& d = dev->interop();
  if (!d.enabled.complete()) GTEST_SKIP() << dev->device_name() << " lacks " << d.enabled.missing();
  wl::render::VkFrameExporter exporter(d);
  auto ring = exporter.create_exportable_frames(3, 16, 16);
  wl::render::close_ring_fds(ring);
  EXPECT_FALSE(exporter.take_pending().has_value());

  auto w = exporter.next_write_slot();
  ASSERT_EQ(w.slot, 0);
  EXPECT_EQ(w.wait_release, 0u);
  exporter.present_slot(0, 1);
  auto f = exporter.take_pending();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->ready_value, 1u);
  EXPECT_EQ(f->release_value, 1u);
  EXPECT_EQ(exporter.released_value(0), 1u);
  EXPECT_EQ(f->buffer, exporter.slot_buffer(0)->buffer());

  // Slot 0 is on screen; the decoder gets 1, then 2 (1 is pending), never 0.
  w = exporter.next_write_slot();
  EXPECT_EQ(w.slot, 1);
  exporter.present_slot(1, 2);
  w = exporter.next_write_slot();
  EXPECT_EQ(w.slot, 2);
  exporter.present_slot(2, 3);  // supersedes slot 1 before a draw
  f = exporter.take_pending();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->ready_value, 3u);
  EXPECT_EQ(f->release_value, 2u);
  EXPECT_EQ(exporter.released_value(2), 2u);
  EXPECT_EQ(exporter.released_value(1), 0u);  // never read
  // Now 2 is on screen: 0 (released at 1) and 1 are free.
  w = exporter.next_write_slot();
  EXPECT_EQ(w.slot, 0);
  EXPECT_EQ(w.wait_release, 1u);
}

TEST(VkInterop, RingBookNeverHandsTheDecoderAPendingOrShownSlot) {
  wl::render::FrameRingBook book;
  book.reset(3);
  EXPECT_FALSE(book.take().has_value());
  auto w = book.next_write();
  ASSERT_EQ(w.slot, 0);
  EXPECT_EQ(w.wait_release, 0u);
  book.present(0, 1);
  auto t = book.take();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->slot, 0);
  EXPECT_EQ(t->ready_value, 1u);
  EXPECT_EQ(t->release_value, 1u);
  EXPECT_FALSE(book.take().has_value());  // nothing new

  EXPECT_EQ(book.next_write().slot, 1);  // 0 is shown
  book.present(1, 2);
  EXPECT_EQ(book.next_write().slot, 2);  // 1 pending, 0 shown
  book.present(2, 3);                    // supersedes 1 before a draw
  t = book.take();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->slot, 2);
  EXPECT_EQ(t->ready_value, 3u);
  EXPECT_EQ(t->release_value, 2u);
  EXPECT_EQ(book.released(1), 0u);  // never read
  w = book.next_write();             // 2 shown: 0 (released at 1) is next
  EXPECT_EQ(w.slot, 0);
  EXPECT_EQ(w.wait_release, 1u);
  book.present(0, 4);
  w = book.next_write();  // 0 pending, 2 shown
  EXPECT_EQ(w.slot, 1);
  EXPECT_THROW(book.present(3, 5), wl::Error);

  wl::render::FrameRingBook two;  // two slots: one shown + one pending leaves none
  two.reset(2);
  two.present(two.next_write().slot, 1);
  two.take();
  two.present(two.next_write().slot, 2);
  EXPECT_EQ(two.next_write().slot, -1);
}

TEST(VkInterop, RingBookSkipsHeldSlotsUntilReleased) {
  // The app's frames wait in a queue before present(): their slots are held.
  wl::render::FrameRingBook book;
  book.reset(4);
  for (int s = 0; s < 3; ++s) {
    const auto w = book.next_write();
    ASSERT_EQ(w.slot, s);
    book.hold(w.slot);
  }
  EXPECT_EQ(book.next_write().slot, 3);
  book.hold(3);
  EXPECT_EQ(book.next_write().slot, -1);  // all four queued
  book.present(1, 2);                      // frame 1 shown (frame 0 dropped by the queue)
  auto t = book.take();
  ASSERT_TRUE(t.has_value());
  book.release(0);
  book.release(1);
  auto w = book.next_write();  // 1 is on screen, 2 and 3 still queued: only 0
  EXPECT_EQ(w.slot, 0);
  EXPECT_EQ(w.wait_release, 0u);  // never read
  book.hold(0);
  EXPECT_EQ(book.next_write().slot, -1);
  book.present(2, 3);
  t = book.take();
  book.release(2);
  w = book.next_write();  // 2 on screen now: 1 is free again, after its read
  EXPECT_EQ(w.slot, 1);
  EXPECT_EQ(w.wait_release, 1u);
  EXPECT_THROW(book.hold(4), wl::Error);
  EXPECT_THROW(book.release(-1), wl::Error);
}

TEST(VkInterop, CopyWaitsForTheReadyTimelineAndSignalsRelease) {
  // The presenter's side of a frame: its copy out of the exportable buffer
  // waits on the GPU for the ready value (here signalled from the host, where
  // CUDA would signal it) and signals the release value when done.
  WL_NEED_VK_DEVICE(dev);
  const InteropDevice& d = dev->interop();
  if (!d.enabled.external_memory_fd || !d.enabled.timeline_semaphore)
    GTEST_SKIP() << dev->device_name() << " lacks " << d.enabled.missing();
  constexpr VkDeviceSize kBytes = 32 * 16 * 4;
  ExportableBuffer frame(d, kBytes);
  Readback readback(d, kBytes);
  TimelineSemaphore ready(d, d.enabled.external_semaphore_fd), release(d, d.enabled.external_semaphore_fd);
  Commands cmds(d);

  // "Decoder" writes the frame (stands in for the CUDA kernels).
  cmds.begin();
  vkCmdFillBuffer(cmds.cmd, frame.buffer(), 0, kBytes, 0x5a5a5a5au);
  cmds.submit();
  cmds.wait_done();

  std::memset(readback.data, 0, kBytes);
  cmds.begin();
  record_copy(cmds.cmd, frame.buffer(), readback.buffer, kBytes);
  cmds.submit(ready.handle(), 1, release.handle(), 1);
  EXPECT_FALSE(release.wait(1, 50'000'000ull)) << "the copy ran before its ready value";
  EXPECT_EQ(static_cast<uint8_t*>(readback.data)[0], 0);
  ready.signal(1);
  ASSERT_TRUE(release.wait(1, 10'000'000'000ull)) << "release value never signalled";
  cmds.wait_done();
  const auto* p = static_cast<const uint8_t*>(readback.data);
  for (VkDeviceSize i = 0; i < kBytes; ++i) ASSERT_EQ(p[i], 0x5a) << "byte " << i;
}

}  // namespace

#endif  // WORLDLOOP_HAS_VULKAN

#if defined(WORLDLOOP_HAS_CUDA)

TEST(CudaVkImportNoDevice, ImportIsAClearErrorAndClosesTheFd) {
  const auto q = wl::cuda::query_devices();
  if (q.count > 0) GTEST_SKIP() << "a CUDA device is present (" << q.first_name << "); CudaVkInterop.* cover it";
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  try {
    wl::cuda::ImportedTimeline tl(fd);
    FAIL() << "expected wl::Error";
  } catch (const wl::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("no CUDA device: ", 0), 0u) << e.what();
  }
  EXPECT_FALSE(fd_is_open(fd)) << "the import takes the fd over, also when it fails";

  const int fd2 = ::open("/dev/null", O_RDONLY | O_CLOEXEC), fd3 = ::dup(fd2), fd4 = ::dup(fd2);
  ASSERT_GE(fd4, 0);
  wl::cuda::ExternalBufferDesc slot{fd2, 4096, 0, 4096, true};
  EXPECT_THROW(wl::cuda::ImportedFrameRing({slot}, fd3, fd4), wl::Error);
  EXPECT_FALSE(fd_is_open(fd2));
  EXPECT_FALSE(fd_is_open(fd3));
  EXPECT_FALSE(fd_is_open(fd4));
}

#endif  // WORLDLOOP_HAS_CUDA
