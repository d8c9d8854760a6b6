// The flow-matching noise schedule of the distilled Wan models (docs/model.md §4):
// sigma over linspace(1, 0, 1001)[:-1], warped by shift, timestep = 1000*sigma.
// A step list such as [1000, 750, 500, 250] picks entries 1000 - step.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wl {

class FlowSchedule {
 public:
  FlowSchedule(std::vector<int> steps, double shift);

  const std::vector<int>& steps() const { return steps_; }
  double shift() const { return shift_; }
  size_t size() const { return timesteps_.size(); }
  // The model's timestep of step i (e.g. 1000, 937.5, 833.33, 625) and its sigma (= timestep / 1000).
  float timestep(size_t i) const { return timesteps_.at(i); }
  float sigma(size_t i) const { return timesteps_.at(i) / 1000.0f; }
  const std::vector<float>& timesteps() const { return timesteps_; }

  // "1000,750,500,250" or "[1000, 750, 500, 250]"; throws wl::Error naming the bad entry.
  static std::vector<int> parse_steps(const std::string& text);

 private:
  std::vector<int> steps_;
  double shift_;
  std::vector<float> timesteps_;
};

}  // namespace wl
