#include "app/loop/cuda_frame_hand_off.h"

#include "runtime/core/error.h"

#ifdef WORLDLOOP_HAS_CUDA
#include <string>
#include <vector>

#include "runtime/cuda/frame_pack.h"
#include "runtime/cuda/ops_cuda.h"
#include "runtime/cuda/vk_import.h"
#endif

namespace wl::app {

#ifdef WORLDLOOP_HAS_CUDA

namespace {

class ImportedHandOff final : public CudaFrameHandOff {
 public:
  ImportedHandOff(render::VkFrameExporter& exporter, int width, int height, int slots)
      : exporter_(exporter), width_(width), height_(height) {
    render::SharedFrameRing ring = exporter_.create_exportable_frames(slots, width, height);
    std::vector<cuda::ExternalBufferDesc> descs;
    for (const auto& s : ring.slots) descs.push_back({s.memory_fd, s.allocation_size, s.offset, s.size, s.dedicated});
    // The import takes every fd over, also when it throws.
    ring_ = std::make_unique<cuda::ImportedFrameRing>(descs, ring.timeline_semaphore_fd, ring.release_semaphore_fd);
  }

  ~ImportedHandOff() override {
    // Nothing queued may touch the ring once it is gone (errors here only leak).
    try {
      cuda::synchronize();
    } catch (const Error&) {
    }
  }

  int width() const override { return width_; }
  int height() const override { return height_; }

  std::vector<DeviceFrameRef> write(const Tensor& rgb) override {
    if (rgb.backend() != Backend::CUDA || rgb.rank() != 4 || rgb.dim(1) != 3 || rgb.dim(2) != height_ ||
        rgb.dim(3) != width_)
      throw Error("device frames: image " + shape_str(rgb.shape()) + " is not [F, 3, " + std::to_string(height_) +
                  ", " + std::to_string(width_) + "] on CUDA");
    CUstream_st* stream = cuda::stream();
    const uint64_t ready = counter_ + 1;
    std::vector<DeviceFrameRef> frames;  // a throw below releases the slots taken so far
    std::vector<void*> dst;
    for (int64_t f = 0; f < rgb.dim(0); ++f) {
      const render::VkFrameExporter::WriteSlot w = exporter_.acquire_write_slot();
      if (w.slot < 0)
        throw Error("device frames: every slot of the ring of " + std::to_string(ring_->slot_count()) +
                    " is still queued or on screen");
      frames.push_back(lease(w.slot, ready));
      ring_->begin_write(w.slot, w.wait_release, stream);  // after the presenter's last read of the slot
      dst.push_back(ring_->slot_ptr(w.slot));
    }
    cuda::pack_rgba8(rgb, dst, stream);  // [F, 3, H, W] -> F slots of RGBA8 [H][W][4]
    ring_->end_write(ready, stream);
    counter_ = ready;
    return frames;
  }

  std::optional<render::ExternalFrame> show(const DeviceFrame& frame) override {
    exporter_.present_slot(frame.slot, frame.ready_value);
    return exporter_.take_pending();
  }

 private:
  DeviceFrameRef lease(int slot, uint64_t ready) {
    render::VkFrameExporter* exporter = &exporter_;
    return DeviceFrameRef(new DeviceFrame{slot, ready}, [exporter](const DeviceFrame* f) {
      exporter->release_write_slot(f->slot);
      delete f;
    });
  }

  render::VkFrameExporter& exporter_;
  const int width_, height_;
  std::unique_ptr<cuda::ImportedFrameRing> ring_;
  uint64_t counter_ = 0;  // the last ready value queued (one per chunk)
};

}  // namespace

bool cuda_frame_hand_off_built() { return true; }

std::string cuda_frame_hand_off_unavailable(render::Presenter& presenter) {
  if (!presenter.frame_exporter())
    return "the Vulkan device has no CUDA hand-off: " + presenter.frame_export_unavailable();
  try {
    if (cuda::current_device_uuid() != presenter.context().device_uuid)
      return "the window's Vulkan device (" + presenter.context().device_name + ") is not the CUDA device";
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::unique_ptr<CudaFrameHandOff> make_cuda_frame_hand_off(render::Presenter& presenter, int width, int height,
                                                           int slots) {
  render::VkFrameExporter* exporter = presenter.frame_exporter();
  if (!exporter) throw Error("CUDA frame hand-off: " + presenter.frame_export_unavailable());
  return std::make_unique<ImportedHandOff>(*exporter, width, height, slots);
}

#else  // no CUDA backend in this binary

bool cuda_frame_hand_off_built() { return false; }

std::string cuda_frame_hand_off_unavailable(render::Presenter&) { return "this binary has no CUDA backend"; }

std::unique_ptr<CudaFrameHandOff> make_cuda_frame_hand_off(render::Presenter&, int, int, int) {
  throw Error("CUDA frame hand-off: this binary has no CUDA backend");
}

#endif

}  // namespace wl::app
