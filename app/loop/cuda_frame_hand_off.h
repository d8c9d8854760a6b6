// The window's end of the device path (docs/ARCHITECTURE.md, the device path, app/device_frames.h):
// the presenter's exportable frame ring (render/cuda_vk_interop.h) imported
// into CUDA (runtime/cuda/vk_import.h). write() turns the decoder's output
// into RGBA8 in ring slots on the CUDA stream (runtime/cuda/frame_pack.h);
// show() hands a slot to the presenter's next draw. The one file in app/ that
// needs CUDA and Vulkan together; a binary without the CUDA backend has none
// of it (cuda_frame_hand_off_built() is false).
//
// Lifetime: every DeviceFrameRef it hands out releases its slot in the
// presenter's exporter, so the frames (mailbox, screen), then the hand-off,
// then the presenter must go in that order.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "app/sources/device_frames.h"
#include "render/presenter.h"

namespace wl::app {

class CudaFrameHandOff : public DeviceFrameSink {
 public:
  // Presenter thread: the draw request's external frame for `frame`.
  virtual std::optional<render::ExternalFrame> show(const DeviceFrame& frame) = 0;
};

// True when this binary has the CUDA backend to import the ring with.
bool cuda_frame_hand_off_built();
// Why `presenter` cannot take frames from the CUDA device ("" when it can):
// its Vulkan device lacks the hand-off, or is not the GPU CUDA computes on.
std::string cuda_frame_hand_off_unavailable(render::Presenter& presenter);
// Creates a ring of `slots` frames of width x height in the presenter and
// imports it into CUDA. Throws wl::Error.
std::unique_ptr<CudaFrameHandOff> make_cuda_frame_hand_off(render::Presenter& presenter, int width, int height,
                                                           int slots);

}  // namespace wl::app
