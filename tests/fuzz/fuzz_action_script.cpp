// libFuzzer target for action scripts (`play --actions`, app/loop/action_script.h):
// any bytes must either give a script whose events are in range or be refused
// with an exception, never a crash. Build with clang and -DWORLDLOOP_FUZZ=ON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>

#include "app/loop/action_script.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const wl::app::ActionScript s = wl::app::ActionScript::parse(text);
    // Reading it back, as the model thread does, at a few frames.
    volatile uint32_t keys = s.keys_at(0) | s.keys_at(1) | s.keys_at(int64_t{1} << 40);
    (void)keys;
    (void)s.prompts_between(-1, int64_t{1} << 41);
  } catch (const std::exception&) {
  }
  return 0;
}
