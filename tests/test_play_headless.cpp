// `worldloop play --headless --record` makes the same frames as the window
// shows for the same seed and scripted inputs, and its recordings are well
// formed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <stb/stb_image.h>

namespace fs = std::filesystem;

namespace {

const char* kScript = R"([
  {"frame": 0,  "keys": ["forward"]},
  {"frame": 10, "keys": ["forward", "look_left"]},
  {"frame": 20, "prompt": "lava night"},
  {"frame": 25, "keys": ["right", "look_up"]}
])";

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("worldloop-test-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(p);
  return p;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

int run(const std::string& cmd) {
  const int rc = std::system((cmd + " 2>/dev/null").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string play(const fs::path& dir) {
  const fs::path script = dir / "actions.json";
  std::ofstream(script) << kScript;
  return std::string(WL_WORLDLOOP_EXE) + " play --model test-pattern --seed 5 --actions " + script.string() +
         " --config " +
         (dir / "config.json").string();
}

bool have(const char* program) { return run(std::string("command -v ") + program + " >/dev/null") == 0; }

TEST(PlayHeadless, RecordsPngSequenceAndY4m) {
  const fs::path dir = scratch("rec");
  fs::create_directories(dir);
  ASSERT_EQ(run(play(dir) + " --headless --frames 30 --record " + (dir / "png").string()), 0);
  int pngs = 0;
  for (const auto& e : fs::directory_iterator(dir / "png")) pngs += e.path().extension() == ".png";
  EXPECT_EQ(pngs, 30);
  ASSERT_EQ(run(play(dir) + " --headless --frames 30 --record " + (dir / "out.y4m").string()), 0);
  const std::string y4m = read_all(dir / "out.y4m");
  const std::string header = "YUV4MPEG2 W320 H240 ";
  ASSERT_EQ(y4m.compare(0, header.size(), header), 0);
  const size_t header_len = y4m.find('\n') + 1;
  const size_t frame_len = 6 + 320 * 240 * 3 / 2;  // "FRAME\n" + 4:2:0 planes
  EXPECT_EQ(y4m.size(), header_len + 30 * frame_len);
  // Same seed and inputs: the same video.
  ASSERT_EQ(run(play(dir) + " --headless --frames 30 --record " + (dir / "again.y4m").string()), 0);
  EXPECT_EQ(read_all(dir / "again.y4m"), y4m);
  fs::remove_all(dir);
}

// --record-scale N: recordings at N times the world's size. Nearest repeats
// every pixel in an N x N block of the unscaled frame; linear keeps the size
// and the colours' range but blends between pixels.
TEST(PlayHeadless, RecordScaleEnlargesEveryFrame) {
  const fs::path dir = scratch("scale");
  fs::create_directories(dir);
  const std::string base = play(dir) + " --headless --frames 3 --record ";
  ASSERT_EQ(run(base + (dir / "x1").string()), 0);
  ASSERT_EQ(run(base + (dir / "x3").string() + " --record-scale 3"), 0);
  ASSERT_EQ(run(base + (dir / "lin").string() + " --record-scale 3 --record-filter linear"), 0);
  ASSERT_EQ(run(base + (dir / "x2.y4m").string() + " --record-scale 2"), 0);
  int w1, h1, w3, h3, wl, hl, n;
  unsigned char* a = stbi_load((dir / "x1" / "frame_000002.png").c_str(), &w1, &h1, &n, 3);
  unsigned char* b = stbi_load((dir / "x3" / "frame_000002.png").c_str(), &w3, &h3, &n, 3);
  unsigned char* c = stbi_load((dir / "lin" / "frame_000002.png").c_str(), &wl, &hl, &n, 3);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(w3, 3 * w1);
  EXPECT_EQ(h3, 3 * h1);
  EXPECT_EQ(wl, w3);
  EXPECT_EQ(hl, h3);
  long off = 0, blended = 0;
  for (int y = 0; y < h3; ++y)
    for (int x = 0; x < w3; ++x)
      for (int k = 0; k < 3; ++k) {
        const unsigned char src = a[(static_cast<size_t>(y / 3) * w1 + x / 3) * 3 + k];
        off += b[(static_cast<size_t>(y) * w3 + x) * 3 + k] != src;
        blended += c[(static_cast<size_t>(y) * w3 + x) * 3 + k] != src;
      }
  EXPECT_EQ(off, 0) << "nearest is not N x N blocks of the frame";
  EXPECT_GT(blended, 0) << "linear gave the same pixels as nearest";
  stbi_image_free(a);
  stbi_image_free(b);
  stbi_image_free(c);
  const std::string y4m = read_all(dir / "x2.y4m");
  EXPECT_EQ(y4m.rfind("YUV4MPEG2 W640 H480 ", 0), 0u) << y4m.substr(0, 40);
  EXPECT_NE(run(base + (dir / "bad").string() + " --record-scale 17"), 0);
  EXPECT_NE(run(base + (dir / "bad").string() + " --record-filter cubic"), 0);
  fs::remove_all(dir);
}

// Each bad environment ends with exit code 1 (not a signal: a crash gives
// 139) and a last stderr line that names the problem. Lines before it are the
// run's usual notes (backend, frames path).
TEST(PlayHeadless, BadEnvironmentsFailWithANamedLastLine) {
  const fs::path dir = scratch("bad");
  fs::create_directories(dir);
  const std::string log = (dir / "stderr.txt").string();
  struct Case {
    std::string cmd, says;
  };
  const Case cases[] = {
      {play(dir) + " --headless --frames 3 --record " + (dir / "no-such-dir" / "x.mp4").string(),
       "x.mp4: cannot open the file for writing: No such file or directory"},
      {play(dir) + " --headless --frames 3 --model /nonexistent.safetensors", "/nonexistent.safetensors"},
      {"env -u DISPLAY -u WAYLAND_DISPLAY " + play(dir) + " --frames 3", "no display: set DISPLAY or run with --headless"},
      {play(dir) + " --headless", "--headless needs --frames N"},
  };
  for (const Case& c : cases) {
    const int rc = std::system((c.cmd + " >/dev/null 2>" + log).c_str());
    ASSERT_TRUE(WIFEXITED(rc)) << c.cmd << " ended by a signal";
    EXPECT_EQ(WEXITSTATUS(rc), 1) << c.cmd;
    std::string text = read_all(log);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    const std::string last = text.substr(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
    EXPECT_EQ(last.rfind("worldloop play: ", 0), 0u) << c.cmd << "\n" << text;
    EXPECT_NE(last.find(c.says), std::string::npos) << c.cmd << "\n" << text;
  }
  fs::remove_all(dir);
}

// The window and headless make the same frames (both recordings are taken on
// the model thread), and what the window put on screen is that frame: the
// last presented image, read back from the swapchain with the overlay hidden,
// holds headless's last frame pixel for pixel in its letterbox (nearest
// filtering, UNORM formats: no colour change).
TEST(PlayHeadless, MatchesTheWindowForTheSameSeedAndInputs) {
  if (!have("xvfb-run")) GTEST_SKIP() << "xvfb-run not installed";
  const fs::path dir = scratch("match");
  fs::create_directories(dir);
  constexpr int kFrames = 45;
  ASSERT_EQ(run(play(dir) + " --headless --frames " + std::to_string(kFrames) + " --record " +
                (dir / "headless").string()),
            0);
  const fs::path shot = dir / "window.png";
  ASSERT_EQ(run("timeout 90 xvfb-run -a -s '-screen 0 1280x720x24' " + play(dir) + " --frames " +
                std::to_string(kFrames) + " --no-overlay --screenshot " + shot.string() + " --record " +
                (dir / "window").string()),
            0);
  for (int f = 0; f < kFrames; ++f) {
    char name[32];
    std::snprintf(name, sizeof name, "frame_%06d.png", f);
    const std::string a = read_all(dir / "headless" / name), b = read_all(dir / "window" / name);
    ASSERT_FALSE(a.empty()) << name;
    ASSERT_FALSE(b.empty()) << "the window did not record " << name;
    EXPECT_EQ(a, b) << name << " differs between headless and window";
  }
  // The script's prompt switch shows: frame 24 (after the switch) differs in colour from frame 0.
  EXPECT_NE(read_all(dir / "headless" / "frame_000000.png"), read_all(dir / "headless" / "frame_000024.png"));

  // What the window put on screen last: its letterbox must equal, pixel for
  // pixel, one of the frames its model thread made (all of which equal
  // headless's, above). Which one depends on how many the window dropped
  // (it shows the newest frame; a loaded machine drops more).
  int sw = 0, sh = 0, n = 0;
  unsigned char* screen = stbi_load(shot.c_str(), &sw, &sh, &n, 3);
  ASSERT_NE(screen, nullptr) << "no screenshot from the window";
  std::vector<fs::path> made;
  for (const auto& e : fs::directory_iterator(dir / "window")) made.push_back(e.path());
  std::sort(made.begin(), made.end());
  std::string matched;
  long fewest = -1;
  for (const fs::path& p : made) {
    int fw = 0, fh = 0;
    unsigned char* frame = stbi_load(p.c_str(), &fw, &fh, &n, 3);
    ASSERT_NE(frame, nullptr) << p;
    // The presenter's letterbox (render/presenter.cpp): the largest scale that fits, centred.
    const double scale = std::min(static_cast<double>(sw) / fw, static_cast<double>(sh) / fh);
    const double w = std::floor(fw * scale), h = std::floor(fh * scale);
    const double x0 = std::floor((sw - w) / 2), y0 = std::floor((sh - h) / 2);
    long differing = 0;
    for (int y = 0; y < fh; ++y)
      for (int x = 0; x < fw; ++x) {
        const int sx = static_cast<int>(x0 + (x + 0.5) * w / fw), sy = static_cast<int>(y0 + (y + 0.5) * h / fh);
        const unsigned char* q = screen + (static_cast<size_t>(sy) * sw + sx) * 3;
        const unsigned char* r = frame + (static_cast<size_t>(y) * fw + x) * 3;
        differing += q[0] != r[0] || q[1] != r[1] || q[2] != r[2];
      }
    stbi_image_free(frame);
    if (fewest < 0 || differing < fewest) fewest = differing;
    if (differing == 0) matched = p.filename().string();
  }
  stbi_image_free(screen);
  EXPECT_FALSE(matched.empty()) << "the presented image equals none of the " << made.size()
                                << " frames made; the closest differs in " << fewest << " pixels";
  if (!matched.empty()) std::printf("  the window presented %s pixel for pixel\n", matched.c_str());
  fs::remove_all(dir);
}

}  // namespace
