// Which backend `worldloop play` computes on and which way its frames travel
// to the screen; plain decisions, so they are tested without a GPU or window.
//
// Backend (--backend auto|cpu|cuda): auto is CUDA when a device is usable,
// else the CPU; cuda without a usable device is an error naming the reason.
//
// Frame path: the device path (a CUDA decoder writes frames into Vulkan
// memory the presenter reads, render/cuda_vk_interop.h; no copy through the
// host) when play has a window, the world decodes on CUDA, the binary has
// both the CUDA backend and the Vulkan presenter, and the window's Vulkan
// device offers the hand-off; the host path (RGB bytes through the mailbox)
// otherwise, with the first reason that ruled the device path out.
#pragma once

#include <string>

#include "runtime/core/tensor.h"

namespace wl::app {

// Throws std::runtime_error for --backend cuda without a usable device, and
// std::invalid_argument for an unknown flag.
Backend choose_backend(const std::string& flag, bool cuda_available, const std::string& cuda_unavailable_reason);

enum class FramePath { Host, Device };

struct FramePathInputs {
  bool window = false;              // a presenter exists (false: --headless)
  Backend backend = Backend::CPU;   // choose_backend's answer
  bool source_on_device = false;    // FrameSource::decodes_on_device()
  bool hand_off_built = false;      // the binary has the CUDA backend and the Vulkan presenter
  std::string presenter_cannot;     // why the window cannot take device frames ("" when it can)
};

struct FramePathChoice {
  FramePath path = FramePath::Host;
  std::string reason;  // why this path
};

FramePathChoice choose_frame_path(const FramePathInputs& in);

// One log line: "frames: <path> (<reason>)".
std::string describe(const FramePathChoice& choice);

}  // namespace wl::app
