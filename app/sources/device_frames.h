// The device path of the frame hand-off (docs/ARCHITECTURE.md, the device path): a source that
// decodes on CUDA writes its frames straight into GPU memory the presenter
// reads (the exported ring of render/cuda_vk_interop.h) and publishes handles
// instead of RGB bytes. No CUDA or Vulkan type appears here: the window's
// implementation of DeviceFrameSink is app/cuda_frame_hand_off.h.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl::app {

// One frame in the shared ring: the presenter may read slot `slot` once the
// ready timeline reaches `ready_value`.
struct DeviceFrame {
  int slot = -1;
  uint64_t ready_value = 0;
};

// The slot stays this frame's (the decoder does not rewrite it) until the
// last copy of the handle goes: the mailbox's, the presenter's.
using DeviceFrameRef = std::shared_ptr<const DeviceFrame>;

class DeviceFrameSink {
 public:
  virtual ~DeviceFrameSink() = default;
  // The frame size the ring was made for.
  virtual int width() const = 0;
  virtual int height() const = 0;
  // Model thread: queues frames `rgb` (a CUDA tensor [F, 3, H, W] F32 in
  // [-1, 1], the image decoder's output) into F slots as RGBA8, each after
  // the presenter's last read of its slot, then one ready signal; returns one
  // handle per frame without waiting for the GPU. Throws wl::Error.
  virtual std::vector<DeviceFrameRef> write(const Tensor& rgb) = 0;
};

}  // namespace wl::app
