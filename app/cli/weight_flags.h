// The weight-loading flags convert and inspect share: --weights-key K,
// --lora FILE[:SCALE] (repeatable), --lora-alpha A.
#pragma once
#include <string>
#include <vector>

#include "runtime/core/weight_map.h"

namespace wl::app {

// Removes every "--lora X" pair from argv (Args keeps one value per option),
// appending the parsed values to `options.loras`. Returns the other arguments.
std::vector<char*> take_lora_flags(int argc, char** argv, WeightOptions& options);

// --lora-alpha as a number; throws wl::Error naming the flag.
double parse_lora_alpha(const std::string& text);

}  // namespace wl::app
