// The CUDA -> Vulkan frame hand-off (docs/ARCHITECTURE.md, the device path), Vulkan side. The
// CUDA side is runtime/cuda/vk_import.h (built only with WORLDLOOP_CUDA).
//
// Call order (one exported buffer ring, two shared timeline semaphores):
//  1. Presenter (Vulkan side): create_exportable_frames(n, w, h) allocates n
//     device-local buffers with VkExternalMemoryBufferCreateInfo +
//     VkExportMemoryAllocateInfo (OPAQUE_FD, dedicated allocations) and two
//     timeline semaphores with VkExportSemaphoreCreateInfo (OPAQUE_FD); it
//     returns their fds in SharedFrameRing.
//  2. Decoder (CUDA side): cudaImportExternalMemory + cudaExternalMemoryGetMappedBuffer
//     on each slot fd, cudaImportExternalSemaphore on both semaphore fds.
//  3. Per frame: CUDA waits (on its stream) for the release timeline to reach
//     `released_value(i)` (the presenter finished reading slot i), writes slot
//     i, cudaSignalExternalSemaphoresAsync on the ready timeline with value
//     `ready = ++counter`, and publishes (slot i, ready) in the mailbox.
//     (The app, app/cuda_frame_hand_off.h, writes a chunk's frames into
//     acquire_write_slot() slots under one ready value and releases each slot
//     when its frame leaves the mailbox and the screen.)
//  4. Presenter: present_slot(i, ready); its next submit (DrawRequest::external,
//     from take_pending()) waits on the ready timeline for `ready` before the
//     copy into its image and signals the release timeline when done. Neither
//     side blocks the other on the CPU.
//
// Why two timelines: a timeline's value may only grow, and every signal must
// exceed the current value. If the decoder (ready values) and the presenter
// (release values) signalled the same semaphore, the decoder could run ahead
// and signal a value above one the presenter has yet to signal.
//
// Requirements: the VkDevice must have been created with the extensions of
// query_interop_support(...).device_extensions() and the timelineSemaphore
// feature (render/vk_interop_device.h); otherwise create_exportable_frames
// throws a wl::Error naming what is missing.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <vulkan/vulkan.h>

#include "render/frame_ring_book.h"
#include "render/vk_exportable.h"
#include "render/vk_interop_device.h"

namespace wl::render {

struct SharedFrameSlot {
  int memory_fd = -1;            // OPAQUE_FD of the slot's VkDeviceMemory (ownership passes to CUDA)
  uint64_t size = 0;             // bytes of the frame (RGBA8, width * height * 4)
  uint64_t offset = 0;           // of the buffer within the memory
  uint64_t allocation_size = 0;  // of the whole VkDeviceMemory (cudaExternalMemoryHandleDesc::size)
  bool dedicated = true;         // a dedicated allocation (cudaExternalMemoryDedicated)
};

struct SharedFrameRing {
  std::vector<SharedFrameSlot> slots;
  int timeline_semaphore_fd = -1;  // ready timeline: CUDA signals, Vulkan waits
  int release_semaphore_fd = -1;   // release timeline: Vulkan signals, CUDA waits
  int width = 0, height = 0;
};

// Closes every fd still >= 0 in `ring` and sets it to -1 (fds not imported).
void close_ring_fds(SharedFrameRing& ring);

// What the presenter's next submit needs to show an exported slot.
struct ExternalFrame {
  VkBuffer buffer = VK_NULL_HANDLE;  // RGBA8, tightly packed
  VkDeviceSize offset = 0;
  int width = 0, height = 0;
  VkSemaphore ready = VK_NULL_HANDLE;  // wait for ready_value before the copy
  uint64_t ready_value = 0;
  VkSemaphore release = VK_NULL_HANDLE;  // signal release_value when the copy is done
  uint64_t release_value = 0;
};

class CudaVkInterop {
 public:
  virtual ~CudaVkInterop() = default;
  // Vulkan side: allocate `count` exportable slots and the timeline semaphores.
  virtual SharedFrameRing create_exportable_frames(int count, int width, int height) = 0;
  // Vulkan side: make slot `slot` the displayed frame once the timeline reaches `ready_value`.
  virtual void present_slot(int slot, uint64_t ready_value) = 0;
  // Release-timeline value signalled when the presenter has finished reading `slot` (0: never read).
  virtual uint64_t released_value(int slot) const = 0;
};

// The Vulkan implementation on a device created with the interop extensions.
class VkFrameExporter final : public CudaVkInterop {
 public:
  explicit VkFrameExporter(const InteropDevice& dev);
  ~VkFrameExporter() override;

  // Throws wl::Error when the device lacks any needed extension or feature.
  // Replaces an earlier ring (the caller must have drained the GPU).
  SharedFrameRing create_exportable_frames(int count, int width, int height) override;
  void present_slot(int slot, uint64_t ready_value) override;
  uint64_t released_value(int slot) const override;

  // Presenter thread: the newest slot handed to present_slot since the last
  // call, with the release value its copy must signal; nullopt when nothing
  // new. A slot superseded before a draw is simply not read (the presenter
  // shows the newest complete frame only); its released_value stays valid.
  std::optional<ExternalFrame> take_pending();

  // Decoder thread: a slot that is neither pending nor the one last taken by
  // the presenter (needs count >= 3), and the release value to wait for
  // before writing it; slot -1 when every slot is busy.
  using WriteSlot = FrameRingBook::WriteSlot;
  WriteSlot next_write_slot();
  // Decoder thread: as next_write_slot(), and the slot stays the decoder's
  // (skipped by later calls) until release_write_slot(slot): for frames that
  // wait in a queue before present_slot, or are dropped without it.
  WriteSlot acquire_write_slot();
  void release_write_slot(int slot);

  const TimelineSemaphore* ready_timeline() const { return ready_.get(); }
  const TimelineSemaphore* release_timeline() const { return release_.get(); }
  const ExportableBuffer* slot_buffer(int slot) const;

 private:
  const InteropDevice& dev_;
  mutable std::mutex mu_;  // the bookkeeping below is shared by decoder and presenter threads
  int width_ = 0, height_ = 0;
  std::vector<std::unique_ptr<ExportableBuffer>> buffers_;
  std::unique_ptr<TimelineSemaphore> ready_, release_;
  FrameRingBook book_;
};

}  // namespace wl::render
