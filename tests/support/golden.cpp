#include "tests/support/golden.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "runtime/core/safetensors.h"

namespace wl::test {

std::string data_path(const std::string& name) { return std::string(WL_TEST_DATA_DIR) + "/" + name; }

namespace {

std::mutex g_temp_mutex;
std::vector<std::string>& temp_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}

void remove_temp_dirs() {
  if (std::getenv("WORLDLOOP_KEEP_TEST_DIRS")) return;
  std::lock_guard<std::mutex> lock(g_temp_mutex);
  for (const std::string& d : temp_dirs()) {
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
  }
}

}  // namespace

std::string temp_dir() {
  std::string tmpl = "/tmp/worldloop-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  std::lock_guard<std::mutex> lock(g_temp_mutex);
  // Registered after the list exists, so it runs before the list is destroyed.
  static const bool registered = (temp_dirs(), std::atexit(remove_temp_dirs) == 0);
  (void)registered;
  temp_dirs().push_back(tmpl);
  return tmpl;
}

double relative_l2(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_floats(), y = b.to_floats();
  if (x.size() != y.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = static_cast<double>(x[i]) - y[i];
    num += d * d;
    den += static_cast<double>(y[i]) * y[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

int run_worldloop(const std::string& args, std::string* out) {
  const std::string cmd = std::string(WL_WORLDLOOP_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::string text;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  const int status = pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

double replay_worst_error(const std::string& name, const std::string& precision, const std::string& extra_flags) {
  const std::string out = temp_dir() + "/flow.safetensors";
  std::string log;
  const int rc = run_worldloop("dit-replay " + extra_flags + " --precision " + precision + " --weights " +
                                   data_path(name + ".weights.safetensors") + " --calls " +
                                   data_path(name + ".case.safetensors") + " --out " + out,
                               &log);
  EXPECT_EQ(rc, 0) << name << ": " << log;
  if (rc != 0) return INFINITY;
  SafetensorsFile ref = SafetensorsFile::open(data_path(name + ".case.safetensors"));
  SafetensorsFile got = SafetensorsFile::open(out);
  const int calls = std::stoi(ref.metadata().at("calls"));
  double worst = 0;
  for (int i = 0; i < calls; ++i) {
    const std::string key = "call." + std::to_string(i) + ".flow";
    if (!got.has(key)) {
      ADD_FAILURE() << name << ": " << key << " missing";
      return INFINITY;
    }
    EXPECT_EQ(got.info(key).shape, ref.info(key).shape) << name << " " << key;
    worst = std::max(worst, relative_l2(got.get(key), ref.get(key)));
  }
  std::printf("[ dit-replay ] %s %s%s: %d calls, max rel L2 %.3g\n", name.c_str(), precision.c_str(),
              extra_flags.empty() ? "" : (" " + extra_flags).c_str(), calls, worst);
  return worst;
}

}  // namespace wl::test
