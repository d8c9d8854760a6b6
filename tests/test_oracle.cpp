// The oracle game (tools/oracle) and its FrameSource (app/oracle_source):
// determinism, memory of places, theme colours, exact camera motion, prompt
// keywords, dataset scripts.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <vector>

#include "app/sources/oracle_source.h"
#include "app/sources/oracle/oracle.h"
#include "app/sources/oracle/policy.h"

namespace {

using wl::FrameActions;
using namespace wl::oracle;

FrameActions keys(uint32_t k) {
  FrameActions a;
  a.keys = k;
  return a;
}

std::vector<uint8_t> render(OracleGame& g) {
  std::vector<uint8_t> rgb(g.frame_bytes());
  g.render(rgb.data());
  return rgb;
}

// Pixels whose channels all differ by at most `tol`.
double fraction_close_pixels(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int tol) {
  size_t close = 0, n = a.size() / 3;
  for (size_t i = 0; i < n; ++i) {
    int d = 0;
    for (int c = 0; c < 3; ++c) d = std::max(d, std::abs(int{a[i * 3 + c]} - int{b[i * 3 + c]}));
    close += d <= tol;
  }
  return static_cast<double>(close) / static_cast<double>(n);
}

double fraction_equal_pixels(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t same = 0, n = a.size() / 3;
  for (size_t i = 0; i < n; ++i) same += std::memcmp(&a[i * 3], &b[i * 3], 3) == 0;
  return static_cast<double>(same) / static_cast<double>(n);
}

// Plays `actions` from a fresh world and returns every frame, concatenated.
std::vector<uint8_t> play(uint64_t seed, Theme theme, const std::vector<FrameActions>& actions, int size = 64) {
  OracleOptions o;
  o.width = o.height = size;
  OracleGame g(o);
  g.reset(seed, theme, 123, -456);
  std::vector<uint8_t> out(actions.size() * g.frame_bytes());
  for (size_t i = 0; i < actions.size(); ++i) g.step(actions[i], out.data() + i * g.frame_bytes());
  return out;
}

TEST(Oracle, SameSeedAndActionsGiveIdenticalFrames) {
  const EpisodeScript s = make_episode_script(5, 0, 90);
  for (int t = 0; t < kThemeCount; ++t) {
    const auto a = play(7, static_cast<Theme>(t), s.actions);
    const auto b = play(7, static_cast<Theme>(t), s.actions);
    EXPECT_EQ(a, b) << theme_name(static_cast<Theme>(t));
  }
  const auto big_a = play(7, Theme::Autumn, s.actions, 128);
  const auto big_b = play(7, Theme::Autumn, s.actions, 128);
  EXPECT_EQ(big_a, big_b);
}

TEST(Oracle, DifferentSeedsGiveDifferentWorlds) {
  const std::vector<FrameActions> acts(10, keys(wl::kActRight));
  for (int t = 0; t < kThemeCount; ++t) {
    const auto a = play(7, static_cast<Theme>(t), acts);
    const auto b = play(8, static_cast<Theme>(t), acts);
    EXPECT_LT(fraction_equal_pixels(a, b), 0.6) << theme_name(static_cast<Theme>(t));
  }
}

TEST(Oracle, WorldMovesByItselfWhenNoKeyIsHeld) {
  for (int t = 0; t < kThemeCount; ++t) {
    OracleGame g;
    g.reset(3, static_cast<Theme>(t), 0, 0);
    std::vector<uint8_t> first(g.frame_bytes()), later(g.frame_bytes());
    g.step({}, first.data());
    for (int i = 0; i < 12; ++i) g.step({}, later.data());
    EXPECT_NE(first, later) << theme_name(static_cast<Theme>(t));
    EXPECT_GT(fraction_equal_pixels(first, later), 0.5) << theme_name(static_cast<Theme>(t));
  }
}

TEST(Oracle, RevisitingAPlaceShowsTheSameWorld) {
  for (int t = 0; t < kThemeCount; ++t) {
    for (bool animate : {false, true}) {
      OracleOptions o;
      o.animate = animate;
      OracleGame g(o);
      g.reset(11, static_cast<Theme>(t), -5000, 777);
      std::vector<uint8_t> leaving(g.frame_bytes()), back(g.frame_bytes()), far(g.frame_bytes());
      g.step({}, leaving.data());
      for (int i = 0; i < 40; ++i) g.step(keys(wl::kActRight), far.data());
      for (int i = 0; i < 20; ++i) g.step(keys(wl::kActBack | wl::kActLeft), back.data());
      for (int i = 0; i < 20; ++i) g.step(keys(wl::kActForward | wl::kActLeft), back.data());
      ASSERT_EQ(g.camera_x(), -5000);
      ASSERT_EQ(g.camera_y(), 777);
      const double same = fraction_equal_pixels(leaving, back);
      if (!animate) {
        EXPECT_EQ(leaving, back) << theme_name(static_cast<Theme>(t));
      } else {
        // Only the animated elements (water, lava, fire, creatures, weather) differ;
        // lava flows everywhere it lies, so count near-equal pixels too.
        EXPECT_GT(same, 0.5) << theme_name(static_cast<Theme>(t));
        EXPECT_GT(fraction_close_pixels(leaving, back, 40), 0.75) << theme_name(static_cast<Theme>(t));
      }
      EXPECT_LT(fraction_equal_pixels(leaving, far), 0.5) << "80 texels away should look different";
    }
  }
}

TEST(Oracle, AnimatedMeadowRevisitIsOverNinetyPercentIdentical) {
  OracleGame g;
  double worst = 1.0;
  for (int place = 0; place < 6; ++place) {
    g.reset(21 + place, Theme::Meadow, place * 997, place * -311);
    std::vector<uint8_t> leaving(g.frame_bytes()), back(g.frame_bytes());
    g.step({}, leaving.data());
    for (int i = 0; i < 30; ++i) g.step(keys(wl::kActRight), back.data());
    for (int i = 0; i < 30; ++i) g.step(keys(wl::kActLeft), back.data());
    worst = std::min(worst, fraction_equal_pixels(leaving, back));
  }
  EXPECT_GT(worst, 0.9);
}

// The frame after one step of `k` equals the frame before, shifted by (dx, dy) pixels.
void expect_shift(int size, uint32_t k, int dx, int dy, int width = 0) {
  OracleOptions o;
  o.width = width ? width : size;
  o.height = size;
  const int W = o.width;
  o.animate = false;
  for (int t = 0; t < kThemeCount; ++t) {
    OracleGame g(o);
    g.reset(99, static_cast<Theme>(t), 40, 40);
    const auto before = render(g);
    std::vector<uint8_t> after(g.frame_bytes());
    g.step(keys(k), after.data());
    size_t compared = 0, mismatched = 0;
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < W; ++x) {
        const int sx = x + dx, sy = y + dy;  // where this pixel was before the move
        if (sx < 0 || sy < 0 || sx >= W || sy >= size) continue;
        ++compared;
        mismatched += std::memcmp(&after[(static_cast<size_t>(y) * W + x) * 3],
                                  &before[(static_cast<size_t>(sy) * W + sx) * 3], 3) != 0;
      }
    }
    EXPECT_GT(compared, 0u);
    EXPECT_EQ(mismatched, 0u) << theme_name(static_cast<Theme>(t)) << " size " << size << " keys "
                              << wl::describe_actions(k);
  }
}

TEST(Oracle, KeysShiftTheViewByExactPixels) {
  using namespace wl;
  // D moves the camera right: the picture moves left by 4 texels (one latent pixel of the
  // default world's autoencoder at 64x64).
  expect_shift(64, kActRight, 4, 0);
  expect_shift(64, kActLeft, -4, 0);
  expect_shift(64, kActForward, 0, -4);
  expect_shift(64, kActBack, 0, 4);
  expect_shift(64, kActForward | kActRight, 4, -4);
  expect_shift(64, kActLookLeft, -2, 0);
  expect_shift(64, kActLookDown, 0, 2);
  expect_shift(64, kActRight | kActLookRight, 6, 0);
  expect_shift(64, kActLeft | kActRight, 0, 0);  // opposite keys cancel
  expect_shift(128, kActRight, 8, 0);            // 4 texels = 8 pixels at 128x128
  expect_shift(128, kActBack | kActLeft, -8, 8);
  expect_shift(64, kActRight | kActForward, 4, -4, 112);  // wide frames see more world
  expect_shift(128, kActLeft, -8, 0, 64);
}

TEST(Oracle, ThemeMeanColoursAreDistinct) {
  // Nearest-mean classifier: means from one set of places, tested on others.
  auto mean_rgb = [](const std::vector<uint8_t>& rgb) {
    std::array<double, 3> m{0, 0, 0};
    for (size_t i = 0; i < rgb.size(); ++i) m[i % 3] += rgb[i];
    for (double& v : m) v /= static_cast<double>(rgb.size() / 3);
    return m;
  };
  OracleGame g;
  std::array<std::array<double, 3>, kThemeCount> centre{};
  const int train = 24, test = 40;
  for (int t = 0; t < kThemeCount; ++t) {
    for (int i = 0; i < train; ++i) {
      g.reset(1000 + i, static_cast<Theme>(t), i * 3001, i * -1703);
      g.set_time(i * 7);
      const auto m = mean_rgb(render(g));
      for (int c = 0; c < 3; ++c) centre[t][c] += m[c] / train;
    }
  }
  int correct = 0, total = 0;
  for (int t = 0; t < kThemeCount; ++t) {
    for (int i = 0; i < test; ++i) {
      g.reset(5000 + i, static_cast<Theme>(t), i * -4441 + 17, i * 2221 - 5);
      g.set_time(i * 13);
      const auto m = mean_rgb(render(g));
      int best = 0;
      double best_d = 1e30;
      for (int c = 0; c < kThemeCount; ++c) {
        double d = 0;
        for (int k = 0; k < 3; ++k) d += (m[k] - centre[c][k]) * (m[k] - centre[c][k]);
        if (d < best_d) best_d = d, best = c;
      }
      correct += best == t;
      ++total;
    }
  }
  EXPECT_GE(correct, total * 95 / 100) << correct << " of " << total;
  // and the means themselves are far apart
  for (int a = 0; a < kThemeCount; ++a) {
    for (int b = a + 1; b < kThemeCount; ++b) {
      double d = 0;
      for (int k = 0; k < 3; ++k) d += (centre[a][k] - centre[b][k]) * (centre[a][k] - centre[b][k]);
      EXPECT_GT(std::sqrt(d), 30.0) << theme_name(static_cast<Theme>(a)) << " vs " << theme_name(static_cast<Theme>(b));
    }
  }
}

TEST(Oracle, ThemeSwitchReskinsTheSameWorld) {
  OracleGame g;
  g.reset(4, Theme::Meadow, 10, 20);
  std::vector<uint8_t> rgb(g.frame_bytes());
  for (int i = 0; i < 9; ++i) g.step(keys(wl::kActRight), rgb.data());
  g.set_theme(Theme::Lava);
  g.step(keys(wl::kActBack), rgb.data());

  OracleGame fresh;
  fresh.reset(4, Theme::Lava, g.camera_x(), g.camera_y());
  fresh.set_time(g.time() - 1);
  EXPECT_EQ(rgb, render(fresh));
}

TEST(Oracle, PromptKeywordsPickThemes) {
  EXPECT_EQ(theme_from_prompt(""), Theme::Meadow);
  EXPECT_EQ(theme_from_prompt("a quiet place"), Theme::Meadow);
  EXPECT_EQ(theme_from_prompt("Summer Meadow"), Theme::Meadow);
  for (const char* p : {"winter", "now make it WINTER", "snow", "a snowy forest", "frozen lake"})
    EXPECT_EQ(theme_from_prompt(p), Theme::Snow) << p;
  for (const char* p : {"sand", "dunes", "the desert", "Desert Dunes"})
    EXPECT_EQ(theme_from_prompt(p), Theme::Desert) << p;
  for (const char* p : {"volcano", "lava fields at night", "magma!"})
    EXPECT_EQ(theme_from_prompt(p), Theme::Lava) << p;
  for (const char* p : {"bog", "marsh", "a murky swamp"}) EXPECT_EQ(theme_from_prompt(p), Theme::Swamp) << p;
  for (const char* p : {"fall", "autumn forest", "in the Fall."}) EXPECT_EQ(theme_from_prompt(p), Theme::Autumn) << p;
  // whole words only; the last mentioned wins a tie; non-default themes beat meadow
  EXPECT_EQ(theme_from_prompt("a waterfall in a meadow"), Theme::Meadow);
  EXPECT_EQ(theme_from_prompt("falling snow"), Theme::Snow);
  EXPECT_EQ(theme_from_prompt("the desert, but now in winter"), Theme::Snow);
  EXPECT_EQ(theme_from_prompt("a snowy meadow"), Theme::Snow);
  for (int t = 0; t < kThemeCount; ++t) {
    const Theme th = static_cast<Theme>(t);
    EXPECT_GE(theme_phrasings(th).size(), 8u);
    for (const std::string& p : theme_phrasings(th)) EXPECT_EQ(theme_from_prompt(p), th) << p;
    Theme back;
    EXPECT_TRUE(theme_from_name(theme_name(th), back));
    EXPECT_EQ(back, th);
  }
}

TEST(OraclePolicy, ScriptsAreDeterministicAndVaried) {
  const EpisodeScript a = make_episode_script(3, 17, 300);
  const EpisodeScript b = make_episode_script(3, 17, 300);
  ASSERT_EQ(a.actions.size(), 300u);
  EXPECT_EQ(a.actions, b.actions);
  EXPECT_EQ(a.world_seed, b.world_seed);
  ASSERT_EQ(a.prompts.size(), b.prompts.size());
  EXPECT_NE(make_episode_script(3, 18, 300).actions, a.actions);

  int idle = 0, diagonal = 0, arrows = 0, switches = 0, episodes_with_switch = 0;
  std::array<int, kThemeCount> first_theme{};
  for (int ep = 0; ep < 40; ++ep) {
    const EpisodeScript s = make_episode_script(9, ep, 240);
    ASSERT_EQ(s.actions.size(), 240u);
    ASSERT_FALSE(s.prompts.empty());
    EXPECT_EQ(s.prompts.front().frame, 0);
    ++first_theme[static_cast<int>(s.prompts.front().theme)];
    for (size_t i = 0; i < s.prompts.size(); ++i) {
      EXPECT_EQ(theme_from_prompt(s.prompts[i].text), s.prompts[i].theme) << s.prompts[i].text;
      if (i) {
        EXPECT_GT(s.prompts[i].frame, s.prompts[i - 1].frame);
        EXPECT_LT(s.prompts[i].frame, 240);
      }
    }
    switches += static_cast<int>(s.prompts.size()) - 1;
    episodes_with_switch += s.prompts.size() > 1;
    for (const FrameActions& f : s.actions) {
      const uint32_t move = f.keys & 0xF;
      idle += f.keys == 0;
      diagonal += (move & 3) && (move & 12);
      arrows += (f.keys & 0xF0) != 0;
    }
  }
  const int frames = 40 * 240;
  EXPECT_GT(idle, frames / 20);
  EXPECT_GT(diagonal, frames / 20);
  EXPECT_GT(arrows, frames / 50);
  EXPECT_GT(episodes_with_switch, 8);
  EXPECT_LT(episodes_with_switch, 32);
  for (int t = 0; t < kThemeCount; ++t) EXPECT_GT(first_theme[t], 0) << theme_name(static_cast<Theme>(t));
}

TEST(OracleSource, PlaysTheOracleChunkByChunk) {
  wl::app::OracleSource src;
  EXPECT_EQ(src.format().width, 64);
  EXPECT_EQ(src.format().height, 64);
  EXPECT_EQ(src.chunk_frames(), 3);
  EXPECT_DOUBLE_EQ(src.nominal_fps(), 30.0);
  src.reset(42, "lava fields at night");
  EXPECT_EQ(src.theme(), Theme::Lava);

  OracleGame ref;
  ref.reset(42, Theme::Lava, 0, 0);
  const EpisodeScript s = make_episode_script(1, 2, 12);
  std::vector<uint8_t> chunk, expect(ref.frame_bytes());
  for (int c = 0; c < 4; ++c) {
    if (c == 2) {
      src.set_prompt("now make it winter");
      EXPECT_EQ(src.theme(), Theme::Snow);
      ref.set_theme(Theme::Snow);
    }
    wl::app::ChunkRequest req;
    req.first_frame = c * 3;
    req.actions = std::span<const FrameActions>(s.actions.data() + c * 3, 3);
    const wl::app::ChunkStats st = src.next_chunk(req, chunk);
    ASSERT_EQ(chunk.size(), 3 * ref.frame_bytes());
    EXPECT_EQ(st.cache.policy, "oracle");
    for (int f = 0; f < 3; ++f) {
      ref.step(s.actions[static_cast<size_t>(c * 3 + f)], expect.data());
      EXPECT_EQ(0, std::memcmp(chunk.data() + f * ref.frame_bytes(), expect.data(), expect.size()))
          << "chunk " << c << " frame " << f;
    }
  }
}

}  // namespace
