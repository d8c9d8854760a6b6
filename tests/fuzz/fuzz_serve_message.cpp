// libFuzzer target for what a browser sends `worldloop serve`
// (app/serve/serve_protocol.h): any bytes must either parse into a message
// whose fields are in range or be refused with std::invalid_argument. This is
// the one parser a remote client reaches. Build with clang and -DWORLDLOOP_FUZZ=ON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "app/serve/serve_protocol.h"
#include "runtime/model/world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const wl::app::ClientMessage m = wl::app::parse_client_message(text);
    using Kind = wl::app::ClientMessage::Kind;
    // What the server relies on after a successful parse.
    if (m.kind == Kind::Keys && (m.keys >> wl::kActionBitCount) != 0) std::abort();
    if (m.kind == Kind::Prompt && (m.text.empty() || m.text.size() > wl::app::kMaxPromptChars)) std::abort();
    if (m.kind == Kind::Command && m.text != "pause" && m.text != "step" && m.text != "reset") std::abort();
    if (m.kind == Kind::Cache && (m.budget_frames < 0 || m.budget_frames > wl::kMaxBudgetFrames)) std::abort();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
