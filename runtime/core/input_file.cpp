#include "runtime/core/input_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "runtime/core/error.h"

namespace wl {
namespace {

namespace fs = std::filesystem;

std::string kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a regular file";
}

}  // namespace

uint64_t require_regular_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)  // follows symlinks; never blocks, unlike open() on a FIFO
    throw Error(path + ": cannot open " + what + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error(path + ": " + what + " is " + kind_of(st.st_mode) + ", not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

std::string read_small_file(const std::string& path, const std::string& what, uint64_t max_bytes) {
  const uint64_t size = require_regular_file(path, what);
  if (size > max_bytes)
    throw Error(path + ": " + what + " is " + std::to_string(size) + " bytes, more than the " +
                std::to_string(max_bytes) + "-byte limit");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open " + what + ": " + std::strerror(errno));
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(in.gcount()) != size) throw Error(path + ": " + what + " changed while it was read");
  return text;
}

nlohmann::json parse_json_strict(const std::string& text, const std::string& path) {
  // One set of keys per open object; a key seen twice in the same object is refused.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) open_objects.emplace_back();
    else if (event == E::object_end && !open_objects.empty()) open_objects.pop_back();
    else if (event == E::key && !open_objects.empty() && duplicate.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second) duplicate = key;
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, callback);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  if (!duplicate.empty()) throw Error(path + ": the key '" + duplicate + "' appears twice in one object");
  return j;
}

std::string resolve_package_file(const std::string& package_dir, const std::string& relative,
                                 const std::string& description_path, const std::string& key, bool allow_external) {
  const std::string where = description_path + ": " + key + " '" + relative + "'";
  if (relative.empty()) throw Error(where + " is empty");
  const fs::path rel(relative);
  const fs::path joined = fs::path(package_dir) / rel;
  if (allow_external) return joined.string();
  if (rel.is_absolute()) throw Error(where + " is an absolute path; a package names its files inside its folder");
  for (const fs::path& part : rel)
    if (part == "..") throw Error(where + " leaves the package folder (..)");
  std::error_code ec;
  const fs::path root = fs::canonical(package_dir, ec);
  if (ec) throw Error(package_dir + ": cannot resolve the package folder: " + ec.message());
  const fs::path target = fs::weakly_canonical(joined, ec);  // follows every symlink that exists
  if (ec) throw Error(where + ": cannot resolve: " + ec.message());
  const auto [r, t] = std::mismatch(root.begin(), root.end(), target.begin(), target.end());
  if (r != root.end())
    throw Error(where + " resolves to " + target.string() + ", outside the package (a symlink?)");
  return joined.string();
}

}  // namespace wl
