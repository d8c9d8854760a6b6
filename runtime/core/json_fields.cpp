#include "runtime/core/json_fields.h"

#include <cmath>
#include <cstdio>

#include "runtime/core/error.h"

namespace wl {
namespace {

std::string number_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

// A JSON integer as int64 without overflow: unsigned values past INT64_MAX
// become INT64_MAX, which every range here refuses.
int64_t as_int64(const nlohmann::json& v) {
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return INT64_MAX;
  return v.get<int64_t>();
}

}  // namespace

const nlohmann::json* JsonFields::find(const std::string& dotted) const {
  const nlohmann::json* at = &root_;
  size_t from = 0;
  while (true) {
    const size_t dot = dotted.find('.', from);
    const std::string part = dotted.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
    if (at->is_array() && !part.empty() && part.size() < 10 &&
        part.find_first_not_of("0123456789") == std::string::npos) {
      const size_t i = std::stoul(part);  // "lora.0.scale": entry 0 of the list
      if (i >= at->size()) return nullptr;
      at = &(*at)[i];
    } else {
      if (!at->is_object() || !at->contains(part)) return nullptr;
      at = &(*at)[part];
    }
    if (dot == std::string::npos) return at;
    from = dot + 1;
  }
}

std::string JsonFields::shown(const nlohmann::json& v) {
  std::string t = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return t.size() > 40 ? t.substr(0, 40) + "..." : t;
}

void JsonFields::fail(const std::string& key, const std::string& what, const nlohmann::json& v) const {
  throw Error(path_ + ": " + key + " must be " + what + ", got " + shown(v));
}

int64_t JsonFields::integer(const std::string& key, int64_t lo, int64_t hi, std::optional<int64_t> fallback) const {
  const nlohmann::json* v = find(key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(path_ + ": " + key + " is missing");
  }
  const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
  if (!v->is_number_integer()) fail(key, "a whole number in " + range, *v);
  const int64_t x = as_int64(*v);
  if (x < lo || x > hi) fail(key, "in " + range, *v);
  return x;
}

double JsonFields::number(const std::string& key, double lo, double hi, bool lo_open,
                          std::optional<double> fallback) const {
  const nlohmann::json* v = find(key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(path_ + ": " + key + " is missing");
  }
  const std::string range = std::string(lo_open ? "(" : "[") + number_text(lo) + ", " + number_text(hi) + "]";
  if (!v->is_number()) fail(key, "a number in " + range, *v);
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo)) fail(key, "a number in " + range, *v);
  return x;
}

std::string JsonFields::string(const std::string& key, std::optional<std::string> fallback) const {
  const nlohmann::json* v = find(key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(path_ + ": " + key + " is missing");
  }
  if (!v->is_string()) fail(key, "a string", *v);
  return v->get<std::string>();
}

std::vector<int> JsonFields::integer_list(const std::string& key, int lo, int hi, size_t count_lo, size_t count_hi,
                                          std::optional<std::vector<int>> fallback) const {
  const nlohmann::json* v = find(key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(path_ + ": " + key + " is missing");
  }
  const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
  if (!v->is_array() || v->size() < count_lo || v->size() > count_hi)
    fail(key, "a list of " + std::to_string(count_lo) + ".." + std::to_string(count_hi) + " whole numbers in " + range,
         *v);
  std::vector<int> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const nlohmann::json& e = (*v)[i];
    const std::string at = key + "[" + std::to_string(i) + "]";
    if (!e.is_number_integer()) fail(at, "a whole number in " + range, e);
    const int64_t x = as_int64(e);
    if (x < lo || x > hi) fail(at, "in " + range, e);
    out.push_back(static_cast<int>(x));
  }
  return out;
}

}  // namespace wl
