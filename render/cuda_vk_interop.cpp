#include "render/cuda_vk_interop.h"

#include <string>

#include <unistd.h>

#include "runtime/core/error.h"

namespace wl::render {

void close_ring_fds(SharedFrameRing& ring) {
  for (auto& s : ring.slots)
    if (s.memory_fd >= 0) ::close(s.memory_fd), s.memory_fd = -1;
  if (ring.timeline_semaphore_fd >= 0) ::close(ring.timeline_semaphore_fd), ring.timeline_semaphore_fd = -1;
  if (ring.release_semaphore_fd >= 0) ::close(ring.release_semaphore_fd), ring.release_semaphore_fd = -1;
}

VkFrameExporter::VkFrameExporter(const InteropDevice& dev) : dev_(dev) {}

VkFrameExporter::~VkFrameExporter() = default;

SharedFrameRing VkFrameExporter::create_exportable_frames(int count, int width, int height) {
  if (!dev_.enabled.complete())
    throw Error("CUDA-Vulkan frame hand-off unavailable: the Vulkan device lacks " + dev_.enabled.missing());
  if (count < 1 || width < 1 || height < 1)
    throw Error("exportable frame ring: bad size " + std::to_string(count) + " x " + std::to_string(width) + "x" +
                std::to_string(height));
  std::lock_guard lock(mu_);
  const VkDeviceSize bytes = static_cast<VkDeviceSize>(width) * height * 4;
  buffers_.clear();
  ready_.reset();
  release_.reset();
  for (int i = 0; i < count; ++i) buffers_.push_back(std::make_unique<ExportableBuffer>(dev_, bytes));
  ready_ = std::make_unique<TimelineSemaphore>(dev_, /*exportable=*/true);
  release_ = std::make_unique<TimelineSemaphore>(dev_, /*exportable=*/true);
  width_ = width;
  height_ = height;
  book_.reset(count);

  SharedFrameRing ring;
  ring.width = width;
  ring.height = height;
  try {
    for (const auto& b : buffers_) {
      SharedFrameSlot s;
      s.size = b->size();
      s.offset = b->offset();
      s.allocation_size = b->allocation_size();
      s.dedicated = b->dedicated();
      s.memory_fd = b->export_fd();
      ring.slots.push_back(s);
    }
    ring.timeline_semaphore_fd = ready_->export_fd();
    ring.release_semaphore_fd = release_->export_fd();
  } catch (...) {
    close_ring_fds(ring);
    throw;
  }
  return ring;
}

void VkFrameExporter::present_slot(int slot, uint64_t ready_value) {
  std::lock_guard lock(mu_);
  book_.present(slot, ready_value);
}

uint64_t VkFrameExporter::released_value(int slot) const {
  std::lock_guard lock(mu_);
  return book_.released(slot);
}

std::optional<ExternalFrame> VkFrameExporter::take_pending() {
  std::lock_guard lock(mu_);
  const auto t = book_.take();
  if (!t) return std::nullopt;
  ExternalFrame f;
  const auto& b = *buffers_[t->slot];
  f.buffer = b.buffer();
  f.offset = b.offset();
  f.width = width_;
  f.height = height_;
  f.ready = ready_->handle();
  f.ready_value = t->ready_value;
  f.release = release_->handle();
  f.release_value = t->release_value;
  return f;
}

VkFrameExporter::WriteSlot VkFrameExporter::next_write_slot() {
  std::lock_guard lock(mu_);
  return book_.next_write();
}

VkFrameExporter::WriteSlot VkFrameExporter::acquire_write_slot() {
  std::lock_guard lock(mu_);
  const WriteSlot w = book_.next_write();
  if (w.slot >= 0) book_.hold(w.slot);
  return w;
}

void VkFrameExporter::release_write_slot(int slot) {
  std::lock_guard lock(mu_);
  book_.release(slot);
}

const ExportableBuffer* VkFrameExporter::slot_buffer(int slot) const {
  std::lock_guard lock(mu_);
  if (slot < 0 || slot >= static_cast<int>(buffers_.size())) return nullptr;
  return buffers_[slot].get();
}

}  // namespace wl::render
