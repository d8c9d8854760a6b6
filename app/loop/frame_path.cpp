#include "app/loop/frame_path.h"

#include <stdexcept>

namespace wl::app {

Backend choose_backend(const std::string& flag, bool cuda_available, const std::string& cuda_unavailable_reason) {
  if (flag == "cpu") return Backend::CPU;
  if (flag == "auto") return cuda_available ? Backend::CUDA : Backend::CPU;
  if (flag == "cuda") {
    if (!cuda_available)
      throw std::runtime_error("--backend cuda: " + cuda_unavailable_reason + "; use --backend cpu or auto");
    return Backend::CUDA;
  }
  throw std::invalid_argument("--backend must be auto, cpu or cuda, got '" + flag + "'");
}

FramePathChoice choose_frame_path(const FramePathInputs& in) {
  auto host = [](std::string why) { return FramePathChoice{FramePath::Host, std::move(why)}; };
  if (!in.window) return host("headless: frames go to the recorder as RGB bytes");
  if (in.backend != Backend::CUDA) return host("the CPU backend decodes on the host");
  if (!in.source_on_device) return host("this source makes its frames on the CPU");
  if (!in.hand_off_built) return host("this binary lacks the CUDA backend or the Vulkan presenter");
  if (!in.presenter_cannot.empty()) return host(in.presenter_cannot);
  return {FramePath::Device, "the CUDA decoder writes into the presenter's Vulkan memory"};
}

std::string describe(const FramePathChoice& choice) {
  return std::string("frames: ") +
         (choice.path == FramePath::Device ? "device path, no copy through the host" : "host path, RGB bytes") +
         " (" + choice.reason + ")";
}

}  // namespace wl::app
