// The CUDA <-> Vulkan frame hand-off (render/cuda_vk_interop.h, runtime/cuda/vk_import.h).
//
// VkInterop.*: Vulkan side on any device, lavapipe included (headless, no
// window): exportable memory fds, timeline semaphores signalled from the host,
// and a presenter-style submit that waits on the ready timeline before its
// copy. Parts lavapipe lacks (VK_KHR_external_semaphore_fd in Mesa 22) skip
// with the missing extension named.
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

using wl::render::ExportableBuffer;
using wl::render::HeadlessVkDevice;
using wl::render::InteropDevice;
using wl::render::TimelineSemaphore;

std::unique_ptr<HeadlessVkDevice> make_device(std::string& why) {
  try {
    return std::make_unique<HeadlessVkDevice>();
  } catch (const std::exception& e) {
    why = e.what();
    return nullptr;
  }
}

#define WL_NEED_VK_DEVICE(dev)                                                   \
  std::string wl_why_;                                                           \
  auto dev = make_device(wl_why_);                                               \
  if (!dev) GTEST_SKIP() << "no Vulkan device: " << wl_why_

// A host-visible buffer to read results back.
struct Readback {
  const InteropDevice& dev;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  void* data = nullptr;
  Readback(const InteropDevice& d, VkDeviceSize size) : dev(d) {
    VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bci.size = size;
    bci.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    WL_VK_CHECK(vkCreateBuffer(dev.device, &bci, nullptr, &buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(dev.device, buffer, &req);
    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(dev.physical_device, &mem);
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < mem.memoryTypeCount && type == UINT32_MAX; ++i)
      if ((req.memoryTypeBits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & want) == want) type = i;
    if (type == UINT32_MAX) throw std::runtime_error("no host-visible coherent memory");
    VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = type;
    WL_VK_CHECK(vkAllocateMemory(dev.device, &mai, nullptr, &memory));
    WL_VK_CHECK(vkBindBufferMemory(dev.device, buffer, memory, 0));
    WL_VK_CHECK(vkMapMemory(dev.device, memory, 0, VK_WHOLE_SIZE, 0, &data));
  }
  ~Readback() {
    vkDestroyBuffer(dev.device, buffer, nullptr);
    vkFreeMemory(dev.device, memory, nullptr);
  }
};

// One command pool + buffer on the device's queue.
struct Commands {
  const InteropDevice& dev;
  VkCommandPool pool = VK_NULL_HANDLE;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  explicit Commands(const InteropDevice& d) : dev(d) {
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = dev.queue_family;
    WL_VK_CHECK(vkCreateCommandPool(dev.device, &pci, nullptr, &pool));
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    WL_VK_CHECK(vkAllocateCommandBuffers(dev.device, &ai, &cmd));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    WL_VK_CHECK(vkCreateFence(dev.device, &fci, nullptr, &fence));
  }
  ~Commands() {
    vkQueueWaitIdle(dev.queue);
    vkDestroyFence(dev.device, fence, nullptr);
    vkDestroyCommandPool(dev.device, pool, nullptr);
  }
  void begin() {
    WL_VK_CHECK(vkResetCommandBuffer(cmd, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    WL_VK_CHECK(vkBeginCommandBuffer(cmd, &bi));
  }
  // Submits; with `wait` / `signal` timelines as the presenter does.
  void submit(VkSemaphore wait = VK_NULL_HANDLE, uint64_t wait_value = 0, VkSemaphore signal = VK_NULL_HANDLE,
              uint64_t signal_value = 0) {
    WL_VK_CHECK(vkEndCommandBuffer(cmd));
    WL_VK_CHECK(vkResetFences(dev.device, 1, &fence));
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkTimelineSemaphoreSubmitInfo ts{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    ts.waitSemaphoreValueCount = wait ? 1 : 0;
    ts.pWaitSemaphoreValues = &wait_value;
    ts.signalSemaphoreValueCount = signal ? 1 : 0;
    ts.pSignalSemaphoreValues = &signal_value;
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.pNext = (wait || signal) ? &ts : nullptr;
    si.waitSemaphoreCount = wait ? 1 : 0;
    si.pWaitSemaphores = &wait;
    si.pWaitDstStageMask = &stage;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    si.signalSemaphoreCount = signal ? 1 : 0;
    si.pSignalSemaphores = &signal;
    WL_VK_CHECK(vkQueueSubmit(dev.queue, 1, &si, fence));
  }
  void wait_done() { WL_VK_CHECK(vkWaitForFences(dev.device, 1, &fence, VK_TRUE, UINT64_MAX)); }
};

void record_copy(VkCommandBuffer cmd, VkBuffer src, VkBuffer dst, VkDeviceSize size) {
  VkBufferCopy region{0, 0, size};
  vkCmdCopyBuffer(cmd, src, dst, 1, &region);
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0,
                       nullptr);
}

}  // namespace

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

TEST(VkInterop, ExportsTimelineSemaphoreAsOpaqueFd) {
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

TEST(VkInterop, ExportableFrameRing) {
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

TEST(VkInterop, RingBookkeepingKeepsPresentedSlotsAwayFromTheDecoder) {
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

#if defined(WORLDLOOP_HAS_VULKAN)

#define WL_NEED_CUDA_DEVICE()                                                        \
  do {                                                                               \
    const auto wl_q_ = wl::cuda::query_devices();                                    \
    if (wl_q_.count == 0) GTEST_SKIP() << "no CUDA device: " << wl_q_.reason;        \
  } while (0)

#define WL_CUDA_OK(call) ASSERT_EQ((call), cudaSuccess) << #call << ": " << cudaGetErrorString(cudaGetLastError())

TEST(CudaVkInterop, DecoderWritesImportedSlotAndPresenterCopiesIt) {
  WL_NEED_CUDA_DEVICE();
  WL_NEED_VK_DEVICE(dev);
  const InteropDevice& d = dev->interop();
  if (!d.enabled.complete()) GTEST_SKIP() << dev->device_name() << " lacks " << d.enabled.missing();
  constexpr int kW = 64, kH = 48;
  constexpr VkDeviceSize kBytes = kW * kH * 4;

  wl::render::VkFrameExporter exporter(d);
  wl::render::SharedFrameRing ring = exporter.create_exportable_frames(3, kW, kH);
  std::vector<wl::cuda::ExternalBufferDesc> descs;
  for (auto& s : ring.slots) descs.push_back({s.memory_fd, s.allocation_size, s.offset, s.size, s.dedicated});
  wl::cuda::ImportedFrameRing imported(descs, ring.timeline_semaphore_fd, ring.release_semaphore_fd);
  // CUDA owns the fds now.
  for (auto& s : ring.slots) s.memory_fd = -1;
  ring.timeline_semaphore_fd = ring.release_semaphore_fd = -1;
  ASSERT_EQ(imported.slot_count(), 3);
  ASSERT_NE(imported.slot_ptr(0), nullptr);
  EXPECT_EQ(imported.slot_size(0), kBytes);

  cudaStream_t stream = nullptr;
  WL_CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  Readback readback(d, kBytes);
  Commands cmds(d);
  uint64_t counter = 0;
  for (int frame = 0; frame < 4; ++frame) {
    const auto w = exporter.next_write_slot();
    ASSERT_GE(w.slot, 0);
    imported.begin_write(w.slot, w.wait_release, stream);
    const int value = 0x10 + frame;
    WL_CUDA_OK(cudaMemsetAsync(imported.slot_ptr(w.slot), value, kBytes, stream));
    imported.end_write(++counter, stream);
    exporter.present_slot(w.slot, counter);

    const auto f = exporter.take_pending();
    ASSERT_TRUE(f.has_value());
    std::memset(readback.data, 0, kBytes);
    cmds.begin();
    record_copy(cmds.cmd, f->buffer, readback.buffer, kBytes);
    cmds.submit(f->ready, f->ready_value, f->release, f->release_value);
    cmds.wait_done();
    const auto* p = static_cast<const uint8_t*>(readback.data);
    ASSERT_EQ(p[0], value) << "frame " << frame;
    ASSERT_EQ(p[kBytes - 1], value) << "frame " << frame;
  }
  WL_CUDA_OK(cudaStreamSynchronize(stream));
  WL_CUDA_OK(cudaStreamDestroy(stream));
  EXPECT_EQ(exporter.ready_timeline()->value(), counter);
}

#endif  // WORLDLOOP_HAS_VULKAN
#endif  // WORLDLOOP_HAS_CUDA
