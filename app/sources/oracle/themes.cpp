// Theme names, prompt -> theme keyword matching and the dataset's phrasings.
#include <array>
#include <cctype>

#include "app/sources/oracle/oracle.h"

namespace wl::oracle {

namespace {

struct ThemeInfo {
  const char* name;
  const char* title;
  std::vector<std::string> keywords;  // whole words, lower case
  std::vector<std::string> phrasings;
};

const std::array<ThemeInfo, kThemeCount>& infos() {
  static const std::array<ThemeInfo, kThemeCount> kInfos = {{
      {"meadow",
       "summer meadow",
       {"meadow", "meadows", "summer", "grass", "grassy", "grassland", "field", "fields", "spring", "prairie",
        "green", "sunny", "pasture"},
       {"a summer meadow", "green meadow with flowers", "sunny grassland with a few trees", "a grassy field in summer",
        "rolling green pasture with wildflowers and ponds", "spring meadow, blue sky, sheep grazing",
        "lush green prairie", "a peaceful meadow on a sunny day", "summer fields full of flowers",
        "top-down view of a green grassy meadow"}},
      {"snow",
       "snowy forest",
       {"winter", "wintry", "snow", "snowy", "snowfall", "frozen", "ice", "icy", "frost", "frosty", "blizzard",
        "arctic", "tundra", "pines", "pine", "taiga"},
       {"a snowy forest", "winter pine forest covered in snow", "frozen lake in a snowy wood", "snowfall over the pines",
        "icy winter landscape", "a cold snowy forest with a frozen pond", "deep winter, snow everywhere",
        "frosty taiga with snow-capped pines", "arctic forest in a blizzard", "now make it winter"}},
      {"desert",
       "desert dunes",
       {"desert", "deserts", "sand", "sandy", "sands", "dune", "dunes", "cactus", "cacti", "sahara", "arid", "oasis"},
       {"desert dunes", "endless sand dunes under the sun", "a sandy desert with cacti", "arid desert with an oasis",
        "hot sahara sands", "golden dunes and cactus plants", "a dry desert landscape", "wind blowing over the sand dunes",
        "cactus desert at noon", "make it a desert"}},
      {"lava",
       "lava fields at night",
       {"lava", "volcano", "volcanic", "magma", "molten", "inferno", "eruption", "obsidian", "embers", "hellscape",
        "hellish"},
       {"lava fields at night", "a volcanic wasteland with rivers of magma", "glowing lava under a dark sky",
        "molten lava and black rock", "volcano eruption at night", "an inferno of magma pools and fires",
        "dark obsidian plains with lava lakes", "night on a volcano, embers in the air", "rivers of glowing magma",
        "turn it into a lava world"}},
      {"swamp",
       "swamp",
       {"swamp", "swamps", "swampy", "bog", "boggy", "marsh", "marshes", "marshland", "wetland", "wetlands", "mire",
        "fen", "bayou", "murky"},
       {"a murky swamp", "foggy bog with reeds and willows", "marshland full of reeds", "a swampy wetland at dusk",
        "murky bayou with fireflies", "a mire of mud and dark water", "green swamp with a wooden boardwalk",
        "misty marsh with frogs", "overgrown wetland", "make it a swamp"}},
      {"autumn",
       "autumn forest",
       {"autumn", "autumnal", "fall", "maple", "maples", "october", "november", "harvest", "foliage"},
       {"an autumn forest", "fall foliage in orange and red", "autumn woods with falling leaves",
        "a maple forest in october", "golden autumn trees", "red and orange leaves everywhere in the fall",
        "autumnal forest with mushrooms", "late fall, leaves on the ground", "a forest in autumn colours",
        "now make it autumn"}},
  }};
  return kInfos;
}

}  // namespace

const char* theme_name(Theme t) { return infos()[static_cast<int>(t)].name; }
const char* theme_title(Theme t) { return infos()[static_cast<int>(t)].title; }

bool theme_from_name(std::string_view name, Theme& out) {
  for (int i = 0; i < kThemeCount; ++i) {
    if (name == infos()[i].name) {
      out = static_cast<Theme>(i);
      return true;
    }
  }
  return false;
}

Theme theme_from_prompt(std::string_view prompt) {
  // Split into lower-case words.
  std::vector<std::string> words;
  std::string cur;
  for (char ch : prompt) {
    const unsigned char u = static_cast<unsigned char>(ch);
    if (std::isalpha(u)) {
      cur.push_back(static_cast<char>(std::tolower(u)));
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));

  int best = -1, best_hits = 0, best_last = -1;
  // Meadow (index 0) is the default: it only wins when nothing else matches.
  for (int th = 1; th < kThemeCount; ++th) {
    int hits = 0, last = -1;
    for (size_t w = 0; w < words.size(); ++w) {
      for (const std::string& k : infos()[th].keywords) {
        if (words[w] == k) {
          ++hits;
          last = static_cast<int>(w);
          break;
        }
      }
    }
    if (hits > best_hits || (hits == best_hits && hits > 0 && last > best_last)) {
      best = th;
      best_hits = hits;
      best_last = last;
    }
  }
  return best < 0 ? Theme::Meadow : static_cast<Theme>(best);
}

const std::vector<std::string>& theme_phrasings(Theme t) { return infos()[static_cast<int>(t)].phrasings; }

}  // namespace wl::oracle
