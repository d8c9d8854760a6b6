#include "app/cli/weight_flags.h"

#include <cstdlib>

#include "runtime/core/error.h"

namespace wl::app {

std::vector<char*> take_lora_flags(int argc, char** argv, WeightOptions& options) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--lora") {
      if (i + 1 >= argc) throw Error("--lora needs a value (FILE[:SCALE])");
      options.loras.push_back(parse_lora_argument(argv[++i]));
    } else if (a.rfind("--lora=", 0) == 0) {
      options.loras.push_back(parse_lora_argument(a.substr(7)));
    } else {
      rest.push_back(argv[i]);
    }
  }
  return rest;
}

double parse_lora_alpha(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(v > 0))
    throw Error("--lora-alpha expects a positive number, got '" + text + "'");
  return v;
}

}  // namespace wl::app
