// libFuzzer target for play's config file (app/loop/play_config.h): any text
// must either give a config or be refused with an exception naming the file,
// and an accepted config must survive being written and read back (play writes
// the defaults this way on first use). Build with clang and -DWORLDLOOP_FUZZ=ON.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "app/loop/play_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  wl::app::PlayConfig c;
  try {
    c = wl::app::PlayConfig::parse(text, "fuzz.json");
  } catch (const std::exception&) {
    return 0;  // refused, as malformed input should be
  }
  if (c.presets.size() > 9) __builtin_trap();
  // Written and read back, it is the same config.
  const wl::app::PlayConfig back = wl::app::PlayConfig::parse(c.to_json(), "fuzz.json");
  if (back.bindings != c.bindings || back.presets != c.presets || back.default_prompt != c.default_prompt)
    __builtin_trap();
  return 0;
}
