// Priming a world with the oracle game: the first frames of the world at a
// seed and prompt, rendered by the oracle with no key held, for WorldSource to
// encode into the cache before the model takes over.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/actions.h"
#include "app/sources/oracle/oracle.h"

namespace wl::app {

// Resets `game` to `seed` and the prompt's theme and renders `frames` idle
// frames, leaving it where the primed model continues.
std::vector<uint8_t> prime_oracle(oracle::OracleGame& game, uint64_t seed, const std::string& prompt, int frames,
                                  std::vector<FrameActions>& actions);

// `frames` RGB8 frames of `width` x `height` ([n][H][W][3]); `actions` gets
// the keys that led to each (none).
std::vector<uint8_t> oracle_priming_frames(int width, int height, uint64_t seed, const std::string& prompt, int frames,
                                           std::vector<FrameActions>& actions);

}  // namespace wl::app
