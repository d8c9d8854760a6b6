// Slot bookkeeping of the CUDA -> Vulkan frame ring (render/cuda_vk_interop.h),
// apart from any Vulkan object so it can be tested anywhere: which slot the
// decoder may write next, which one the presenter shows, and the release
// timeline value each slot's last read signals. Not thread-safe (the
// exporter locks around it).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace wl::render {

class FrameRingBook {
 public:
  struct Taken {
    int slot = -1;
    uint64_t ready_value = 0;    // to wait for before reading the slot
    uint64_t release_value = 0;  // to signal once the slot has been read
  };
  struct WriteSlot {
    int slot = -1;              // -1: every slot busy (needs count >= 3)
    uint64_t wait_release = 0;  // release value to wait for before writing (0: never read)
  };

  void reset(int count);
  int count() const { return static_cast<int>(released_.size()); }
  // Decoder: slot finished, complete once the ready timeline reaches ready_value.
  void present(int slot, uint64_t ready_value);  // throws wl::Error for a bad slot
  // Presenter: the newest presented slot since the last take (older ones are skipped).
  std::optional<Taken> take();
  // Decoder: a slot neither pending, last taken nor held.
  WriteSlot next_write();
  // A written slot whose frame is still on its way to the presenter (queued
  // for its display time): next_write skips it until release(slot). Throw
  // wl::Error for a bad slot.
  void hold(int slot);
  void release(int slot);
  uint64_t released(int slot) const;  // 0 for a slot never read or out of range

 private:
  std::vector<uint64_t> released_;
  std::vector<bool> held_;
  uint64_t release_counter_ = 0;
  int pending_slot_ = -1;
  uint64_t pending_ready_ = 0;
  int taken_slot_ = -1;
  int written_slot_ = -1;
};

}  // namespace wl::render
