// Files that a user, a package or a manifest names, checked before they are
// read: regular files only (a FIFO would block forever, /dev/zero would read
// until memory runs out, a directory gives a misleading error), sizes bounded
// before reading, JSON with duplicate keys refused, and a package's paths kept
// inside the package, symlinks resolved. Every error names the file and the
// problem (wl::Error). The limits are written once, here.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace wl {

struct InputLimits {
  static constexpr uint64_t kJsonBytes = 4ull << 20;        // world.json, model.json, configs, cases' JSON
  static constexpr uint64_t kTokenizerBytes = 256ull << 20;  // SentencePiece models (umT5's is 4.5 MB)
  static constexpr uint64_t kCaseBytes = 4ull << 30;         // test-case files read whole (text-encode --case)
};

// `path` exists and is a regular file once symlinks are followed; returns its
// size. Refuses FIFOs, sockets, devices and directories by name. `what` says
// what the file is for ("the world description", "the tokenizer").
uint64_t require_regular_file(const std::string& path, const std::string& what);

// The whole file, after require_regular_file and a size bound.
std::string read_small_file(const std::string& path, const std::string& what, uint64_t max_bytes);

// JSON text parsed with duplicate keys refused (at any depth), naming the key.
nlohmann::json parse_json_strict(const std::string& text, const std::string& path);

// `relative`, a path that a package's description names under `key`
// ("files.tokenizer"), resolved inside `package_dir`: absolute paths, ".."
// steps and symlinks that lead outside the package are refused unless
// `allow_external`. Returns the path to open (package_dir / relative).
std::string resolve_package_file(const std::string& package_dir, const std::string& relative,
                                 const std::string& description_path, const std::string& key,
                                 bool allow_external);

}  // namespace wl
