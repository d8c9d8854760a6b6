// Scripted-random action policies and prompt schedules for the oracle dataset.
#include "app/sources/oracle/policy.h"

#include <algorithm>

namespace wl::oracle {

uint64_t Rng::next() {
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int Rng::range(int lo, int hi) {
  if (hi <= lo) return lo;
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int>(next() % span);
}

double Rng::unit() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

Theme EpisodeScript::theme_at(int frame) const {
  Theme t = prompts.empty() ? Theme::Meadow : prompts.front().theme;
  for (const PromptEvent& e : prompts) {
    if (e.frame > frame) break;
    t = e.theme;
  }
  return t;
}

namespace {


// The eight move directions (cardinals first).
constexpr uint32_t kDirs[8] = {kActForward, kActBack, kActLeft, kActRight,
                               kActForward | kActLeft, kActForward | kActRight,
                               kActBack | kActLeft, kActBack | kActRight};
constexpr uint32_t kArrows[4] = {kActLookUp, kActLookDown, kActLookLeft, kActLookRight};

uint32_t opposite(uint32_t keys) {
  uint32_t o = 0;
  if (keys & kActForward) o |= kActBack;
  if (keys & kActBack) o |= kActForward;
  if (keys & kActLeft) o |= kActRight;
  if (keys & kActRight) o |= kActLeft;
  if (keys & kActLookUp) o |= kActLookDown;
  if (keys & kActLookDown) o |= kActLookUp;
  if (keys & kActLookLeft) o |= kActLookRight;
  if (keys & kActLookRight) o |= kActLookLeft;
  return o;
}

uint32_t random_dir(Rng& r) {
  // cardinals twice as likely as diagonals
  const int k = r.range(0, 11);
  return k < 8 ? kDirs[k % 4] : kDirs[4 + (k - 8)];
}

std::string pick_phrase(Rng& r, Theme t) {
  const auto& ph = theme_phrasings(t);
  return ph[static_cast<size_t>(r.range(0, static_cast<int>(ph.size()) - 1))];
}

}  // namespace

EpisodeScript make_episode_script(uint64_t seed, int episode, int frames, const PolicyOptions& opt) {
  Rng r(seed * 0x2545F4914F6CDD1Dull + static_cast<uint64_t>(episode) * 0x9E3779B97F4A7C15ull + 1);
  EpisodeScript s;
  s.world_seed = r.next();
  s.start_x = static_cast<int64_t>(r.next() % static_cast<uint64_t>(2 * opt.start_range + 1)) - opt.start_range;
  s.start_y = static_cast<int64_t>(r.next() % static_cast<uint64_t>(2 * opt.start_range + 1)) - opt.start_range;

  // ---- prompts
  const Theme first = static_cast<Theme>(r.range(0, kThemeCount - 1));
  s.prompts.push_back({0, pick_phrase(r, first), first});
  if (frames >= 24 && r.chance(opt.switch_episode_p)) {
    const int n = r.range(1, std::max(1, opt.max_switches));
    std::vector<int> at;
    const int align = std::max(1, opt.switch_align);
    for (int i = 0; i < n; ++i) {
      const int f = r.range(frames / 6, frames - 8);
      at.push_back(std::max(align, f - f % align));
    }
    std::sort(at.begin(), at.end());
    at.erase(std::unique(at.begin(), at.end()), at.end());
    for (int f : at) {
      Theme cur = s.prompts.back().theme;
      Theme next = cur;
      if (!r.chance(opt.rephrase_p)) {
        next = static_cast<Theme>(r.range(0, kThemeCount - 2));
        if (static_cast<int>(next) >= static_cast<int>(cur)) next = static_cast<Theme>(static_cast<int>(next) + 1);
      }
      s.prompts.push_back({f, pick_phrase(r, next), next});
    }
  }

  // ---- actions
  s.actions.reserve(static_cast<size_t>(frames));
  auto emit = [&](uint32_t keys, int n) {
    for (int i = 0; i < n && static_cast<int>(s.actions.size()) < frames; ++i) {
      FrameActions a;
      a.keys = keys;
      s.actions.push_back(a);
    }
  };
  while (static_cast<int>(s.actions.size()) < frames) {
    const double u = r.unit();
    if (u < 0.40) {  // hold a direction
      emit(random_dir(r), r.range(6, 48));
    } else if (u < 0.55) {  // idle
      emit(0, r.range(4, 30));
    } else if (u < 0.65) {  // back and forth, returning to the same place
      const uint32_t d = random_dir(r);
      const int n = r.range(6, 24), reps = r.range(1, 3);
      for (int i = 0; i < reps; ++i) {
        emit(d, n);
        emit(opposite(d), n);
      }
    } else if (u < 0.70) {  // a long walk out, a pause, and back again
      const uint32_t d = random_dir(r);
      const int n = r.range(30, 80);
      emit(d, n);
      emit(0, r.range(0, 12));
      emit(opposite(d), n);
    } else if (u < 0.80) {  // look around with the arrows, sometimes while walking
      uint32_t k = kArrows[r.range(0, 3)];
      if (r.chance(0.3)) k |= random_dir(r);
      emit(k, r.range(4, 30));
    } else if (u < 0.90) {  // jitter: new keys every few frames, opposite keys now and then
      const int n = r.range(8, 30);
      for (int i = 0; i < n;) {
        uint32_t k = r.chance(0.15) ? 0u : random_dir(r);
        if (r.chance(0.08)) k |= opposite(k);  // A+D, W+S: they cancel
        if (r.chance(0.1)) k |= kArrows[r.range(0, 3)];
        const int len = r.range(1, 4);
        emit(k, len);
        i += len;
      }
    } else {  // stop and go
      const uint32_t d = random_dir(r);
      const int reps = r.range(2, 5);
      for (int i = 0; i < reps; ++i) {
        emit(d, r.range(2, 8));
        emit(0, r.range(2, 8));
      }
    }
  }
  return s;
}

}  // namespace wl::oracle
