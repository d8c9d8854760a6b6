// The messages between `worldloop serve` and its page (docs/serve.md).
//
// Page -> server, text, JSON, at most kMaxClientMessageBytes:
//   {"type":"keys","held":["forward","look_left"]}   the actions held now
//   {"type":"prompt","text":"snowy forest"}           switch at the next chunk
//   {"type":"command","name":"pause"|"step"|"reset"}
//   {"type":"cache","policy":"window","budget_frames":8}   (0: keep the budget)
// Server -> page:
//   text   {"type":"hello",...}   once, first: the world, its presets and key map
//   text   {"type":"status",...}  per frame: the HUD numbers and the cache
//   binary one frame: int64 session frame, uint32 action mask (both
//          little-endian), then the JPEG
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "app/loop/frame_mailbox.h"
#include "app/loop/play_config.h"

namespace wl::app {

inline constexpr size_t kMaxClientMessageBytes = 4096;
inline constexpr size_t kMaxPromptChars = 1000;
inline constexpr size_t kFrameHeaderBytes = 12;

struct ClientMessage {
  enum class Kind { Keys, Prompt, Command, Cache };
  Kind kind = Kind::Keys;
  uint32_t keys = 0;          // Keys: the ActionBit mask
  std::string text;           // Prompt: the prompt; Command: pause|step|reset; Cache: the policy
  int64_t budget_frames = 0;  // Cache
};

// Throws std::invalid_argument naming what is wrong (bad JSON, an unknown
// type, action or command, a prompt too long, a budget out of range).
ClientMessage parse_client_message(const std::string& text);

struct ServeHello {
  std::string world;     // what plays ("default world" or the --model path)
  std::string compute;   // the source's compute description
  int width = 0, height = 0, chunk_frames = 1;
  double fps = 0;
  uint64_t seed = 0;
  std::string prompt;
  std::vector<std::string> presets;
  std::vector<std::string> policies;
  // KeyboardEvent.code -> action name (held) or command name (pressed).
  std::map<std::string, std::string> action_keys, command_keys;
};
// The key maps from the config's bindings (the same ones the window uses).
void add_key_maps(ServeHello& hello, const PlayConfig& config);
std::string hello_json(const ServeHello& hello);

// What the HUD shows besides the frame's own numbers.
struct ServeCounters {
  double world_fps = 0;       // frames per second made, over the last second
  int64_t frames_dropped = 0; // by the server for slow clients (all clients)
  int clients = 0;
  bool paused = false;
  std::string notice;
};
std::string status_json(const Frame& frame, const ServeCounters& counters);

// The binary frame message: the header above, then `jpeg`.
std::string frame_message(int64_t seq, uint32_t keys, const std::string& jpeg);

}  // namespace wl::app
