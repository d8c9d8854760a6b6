// A world's identity for saved states: a 64-bit FNV-1a hash, printed as 16
// hex digits, of what decides its frames. That is the description's model
// and sampler settings, and every weight tensor's name, dtype and shape,
// plus its bytes: all of them for a tensor up to 64 KiB, and 64 spread
// windows of 1 KiB for a larger one. A state saved from one world is refused
// by another. Hashing the default world takes milliseconds, and a 14 GB
// checkpoint still reads only about 6 MB for it.
#pragma once
#include <string>
#include <vector>

#include "runtime/core/weight_map.h"

namespace wl {

struct WorldDescription;

std::string world_identity(const WorldDescription& description, const std::vector<const WeightMap*>& weights);

}  // namespace wl
