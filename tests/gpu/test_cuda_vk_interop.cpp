// CUDA imports the Vulkan frame ring and the two sides hand a frame over
// (render/cuda_vk_interop.h, runtime/cuda/vk_import.h). Needs a CUDA device
// and a Vulkan device with the external memory and semaphore extensions;
// skips with the reason otherwise. The parts without a GPU are in
// tests/test_vk_interop.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#if defined(WORLDLOOP_HAS_CUDA)
#include <cuda_runtime.h>

#include "runtime/cuda/cuda_device.h"
#include "runtime/cuda/vk_import.h"
#endif
#if defined(WORLDLOOP_HAS_VULKAN)
#include "render/cuda_vk_interop.h"
#include "render/vk_exportable.h"
#include "tests/support/vk_test_device.h"
#endif

#if defined(WORLDLOOP_HAS_CUDA)
namespace {
using namespace wl::test;
using wl::render::InteropDevice;
}  // namespace

#if defined(WORLDLOOP_HAS_VULKAN)

#define WL_NEED_CUDA_DEVICE()                                                        \
  do {                                                                               \
    const auto wl_q_ = wl::cuda::query_devices();                                    \
    if (wl_q_.count == 0) GTEST_SKIP() << wl_q_.reason;      \
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
