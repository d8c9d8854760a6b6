// Interface for the CUDA -> Vulkan frame hand-off (DESIGN.md section 4). NOT
// IMPLEMENTED YET: the CUDA backend will implement it; until then frames reach
// the presenter through the host-visible staging buffer.
//
// Call order (one exported image ring, one shared timeline semaphore):
//  1. Presenter (Vulkan side): create_exportable_frames(n, w, h) allocates n
//     device-local buffers with VkExportMemoryAllocateInfo (OPAQUE_FD) and a
//     timeline semaphore with VkExportSemaphoreCreateInfo (OPAQUE_FD); it
//     returns their fds in SharedFrameRing.
//  2. Decoder (CUDA side): cudaImportExternalMemory + cudaExternalMemoryGetMappedBuffer
//     on each fd, cudaImportExternalSemaphore on the semaphore fd.
//  3. Per frame: CUDA waits for value `released[i]` (the presenter finished
//     reading slot i), writes slot i, cudaSignalExternalSemaphoresAsync with
//     value `ready = ++counter`, and publishes (slot i, ready) in the mailbox.
//  4. Presenter: its copy-to-image submit waits on the timeline value `ready`
//     and signals `released[i]` when the copy is done. Neither side blocks the
//     other on the CPU.
#pragma once

#include <cstdint>
#include <vector>

namespace wl::render {

struct SharedFrameSlot {
  int memory_fd = -1;   // OPAQUE_FD of the slot's VkDeviceMemory (ownership passes to CUDA)
  uint64_t size = 0;    // bytes (RGBA8, width * height * 4)
  uint64_t offset = 0;  // of the buffer within the memory
};

struct SharedFrameRing {
  std::vector<SharedFrameSlot> slots;
  int timeline_semaphore_fd = -1;
  int width = 0, height = 0;
};

class CudaVkInterop {
 public:
  virtual ~CudaVkInterop() = default;
  // Vulkan side: allocate `count` exportable slots and the timeline semaphore.
  virtual SharedFrameRing create_exportable_frames(int count, int width, int height) = 0;
  // Vulkan side: make slot `slot` the displayed frame once the timeline reaches `ready_value`.
  virtual void present_slot(int slot, uint64_t ready_value) = 0;
  // Timeline value signalled when the presenter has finished reading `slot`.
  virtual uint64_t released_value(int slot) const = 0;
};

}  // namespace wl::render
