#include "app/sources/oracle_primer.h"

#include "app/sources/oracle/oracle.h"

namespace wl::app {

std::vector<uint8_t> oracle_priming_frames(int width, int height, uint64_t seed, const std::string& prompt, int frames,
                                           std::vector<FrameActions>& actions) {
  oracle::OracleGame game(oracle::OracleOptions{width, height});
  return prime_oracle(game, seed, prompt, frames, actions);
}

std::vector<uint8_t> prime_oracle(oracle::OracleGame& game, uint64_t seed, const std::string& prompt, int frames,
                                  std::vector<FrameActions>& actions) {
  game.reset(seed, oracle::theme_from_prompt(prompt));
  std::vector<uint8_t> out(game.frame_bytes() * static_cast<size_t>(frames));
  actions.assign(static_cast<size_t>(frames), FrameActions{});
  for (int i = 0; i < frames; ++i) game.step(actions[i], out.data() + game.frame_bytes() * i);
  return out;
}

}  // namespace wl::app
