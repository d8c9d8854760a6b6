#include "render/frame_ring_book.h"

#include <string>

#include "runtime/core/error.h"

namespace wl::render {

void FrameRingBook::reset(int count) {
  released_.assign(count > 0 ? count : 0, 0);
  held_.assign(released_.size(), false);
  release_counter_ = 0;
  pending_slot_ = taken_slot_ = written_slot_ = -1;
  pending_ready_ = 0;
}

void FrameRingBook::present(int slot, uint64_t ready_value) {
  if (slot < 0 || slot >= count())
    throw Error("present_slot: slot " + std::to_string(slot) + " outside the ring of " + std::to_string(count()));
  pending_slot_ = slot;
  pending_ready_ = ready_value;
}

std::optional<FrameRingBook::Taken> FrameRingBook::take() {
  if (pending_slot_ < 0) return std::nullopt;
  Taken t{pending_slot_, pending_ready_, ++release_counter_};
  released_[pending_slot_] = t.release_value;
  taken_slot_ = pending_slot_;
  pending_slot_ = -1;
  return t;
}

FrameRingBook::WriteSlot FrameRingBook::next_write() {
  const int n = count();
  for (int k = 1; k <= n; ++k) {
    const int s = (written_slot_ + k + n) % n;
    if (s == pending_slot_ || s == taken_slot_ || held_[s]) continue;
    written_slot_ = s;
    return {s, released_[s]};
  }
  return {};
}

void FrameRingBook::hold(int slot) {
  if (slot < 0 || slot >= count())
    throw Error("hold: slot " + std::to_string(slot) + " outside the ring of " + std::to_string(count()));
  held_[slot] = true;
}

void FrameRingBook::release(int slot) {
  if (slot < 0 || slot >= count())
    throw Error("release: slot " + std::to_string(slot) + " outside the ring of " + std::to_string(count()));
  held_[slot] = false;
}

uint64_t FrameRingBook::released(int slot) const {
  return slot >= 0 && slot < count() ? released_[slot] : 0;
}

}  // namespace wl::render
