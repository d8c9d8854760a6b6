// Helpers for tests that read the golden fixtures in tests/data (copied from the
// reference implementation's outputs, see docs/model.md §9).
#pragma once
#include <string>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl::test {

// tests/data/<name>
std::string data_path(const std::string& name);
// A fresh folder under /tmp, removed when the test process exits (set
// WORLDLOOP_KEEP_TEST_DIRS to keep them for a look).
std::string temp_dir();
// ||a - b|| / ||b|| over all elements (F32 tensors of the same size).
double relative_l2(const Tensor& a, const Tensor& b);
// Runs the worldloop binary with `args`; returns its exit code, output in `out`.
int run_worldloop(const std::string& args, std::string* out = nullptr);
// Runs `worldloop dit-replay <extra_flags> --precision P` on golden fixture
// `name` and returns the worst relative L2 error of a call's flow against the
// reference (gtest failures for a failed run, a missing call or a wrong shape;
// infinity then).
double replay_worst_error(const std::string& name, const std::string& precision,
                          const std::string& extra_flags = "");

}  // namespace wl::test
