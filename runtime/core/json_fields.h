// Typed, ranged reads of a JSON description's fields (world.json, model.json):
// an integer given as 6.5 or 1e40, a negative or absurd count, a NaN or a
// string where a number belongs fails here, naming the file, the dotted key,
// the value and the allowed range. Nothing converts a JSON number to a C++
// type that cannot hold it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace wl {

class JsonFields {
 public:
  // `root` and `path` (the file errors name) must outlive this object.
  JsonFields(const nlohmann::json& root, const std::string& path) : root_(root), path_(path) {}

  // The value at "a.b.c" ("lora.0.scale": a number indexes a list), or null
  // when any part is missing.
  const nlohmann::json* find(const std::string& dotted) const;
  // A whole number in lo..hi; `fallback` when missing (an error without one).
  int64_t integer(const std::string& key, int64_t lo, int64_t hi, std::optional<int64_t> fallback) const;
  // A finite number in [lo, hi] (or (lo, hi] with lo_open).
  double number(const std::string& key, double lo, double hi, bool lo_open, std::optional<double> fallback) const;
  // A string; `fallback` when missing.
  std::string string(const std::string& key, std::optional<std::string> fallback) const;
  // A list of count_lo..count_hi whole numbers, each in lo..hi; `fallback` when missing.
  std::vector<int> integer_list(const std::string& key, int lo, int hi, size_t count_lo, size_t count_hi,
                                std::optional<std::vector<int>> fallback) const;

  // A value as the messages show it: its JSON text, cut at 40 characters.
  static std::string shown(const nlohmann::json& v);

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& what, const nlohmann::json& v) const;

  const nlohmann::json& root_;
  const std::string& path_;
};

}  // namespace wl
