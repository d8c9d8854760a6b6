// A fixed-size history of durations (ms) with percentiles, for the HUD graphs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace wl::ui {

class FrameTimeHistory {
 public:
  explicit FrameTimeHistory(size_t capacity = 240) : values_(capacity, 0.0f) {}

  void push(float ms) {
    values_[next_] = ms;
    next_ = (next_ + 1) % values_.size();
    count_ = std::min(count_ + 1, values_.size());
  }
  size_t size() const { return count_; }
  // Oldest first, for PlotLines (returns the number written).
  size_t ordered(std::vector<float>& out) const {
    out.clear();
    for (size_t i = 0; i < count_; ++i) out.push_back(values_[(next_ + values_.size() - count_ + i) % values_.size()]);
    return out.size();
  }
  float percentile(float p) const {
    if (count_ == 0) return 0.0f;
    std::vector<float> v;
    ordered(v);
    const size_t k = std::min(v.size() - 1, static_cast<size_t>(p / 100.0f * static_cast<float>(v.size() - 1) + 0.5f));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
  }
  float last() const { return count_ ? values_[(next_ + values_.size() - 1) % values_.size()] : 0.0f; }

 private:
  std::vector<float> values_;
  size_t next_ = 0, count_ = 0;
};

}  // namespace wl::ui
