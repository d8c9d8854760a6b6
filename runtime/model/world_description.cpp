#include "runtime/model/world_description.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "cache/cache_policy.h"
#include "runtime/core/error.h"
#include "runtime/core/input_file.h"

namespace wl {
namespace {

// world.json's numbers: the type each must have and the range it must lie in.
// An integer field given as 6.5, a negative or absurd count, or a NaN fails
// here, naming the key and the allowed range.
struct JsonField {
  const nlohmann::json& root;
  const std::string& path;

  const nlohmann::json* find(const std::string& dotted) const {
    const nlohmann::json* at = &root;
    size_t from = 0;
    while (true) {
      const size_t dot = dotted.find('.', from);
      const std::string part = dotted.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
      if (!at->is_object() || !at->contains(part)) return nullptr;
      at = &(*at)[part];
      if (dot == std::string::npos) return at;
      from = dot + 1;
    }
  }
  std::string shown(const nlohmann::json& v) const {
    std::string t = v.dump();
    return t.size() > 40 ? t.substr(0, 40) + "..." : t;
  }
  int64_t integer(const std::string& key, int64_t lo, int64_t hi, std::optional<int64_t> fallback) const {
    const nlohmann::json* v = find(key);
    if (!v) {
      if (fallback) return *fallback;
      throw Error(path + ": " + key + " is missing");
    }
    if (!v->is_number_integer())
      throw Error(path + ": " + key + " must be a whole number in " + std::to_string(lo) + ".." + std::to_string(hi) +
                  ", got " + shown(*v));
    const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                          ? INT64_MAX
                          : v->get<int64_t>();
    if (x < lo || x > hi)
      throw Error(path + ": " + key + " must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                  shown(*v));
    return x;
  }
  double number(const std::string& key, double lo, double hi, bool lo_open, std::optional<double> fallback) const {
    const nlohmann::json* v = find(key);
    if (!v) {
      if (fallback) return *fallback;
      throw Error(path + ": " + key + " is missing");
    }
    const std::string range = std::string(lo_open ? "(" : "[") + number_text(lo) + ", " + number_text(hi) + "]";
    if (!v->is_number()) throw Error(path + ": " + key + " must be a number in " + range + ", got " + shown(*v));
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi || (lo_open && x == lo))
      throw Error(path + ": " + key + " must be a number in " + range + ", got " + shown(*v));
    return x;
  }
  static std::string number_text(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return buf;
  }
};

}  // namespace

WorldDescription WorldDescription::read(const std::string& dir, bool allow_external_paths) {
  const std::string path = (std::filesystem::path(dir) / "world.json").string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw Error(path + ": cannot open the world description (is '" + dir + "' a world folder?)");
  return parse(read_small_file(path, "the world description", InputLimits::kJsonBytes), dir, path,
               allow_external_paths);
}

WorldDescription WorldDescription::parse(const std::string& text, const std::string& dir, const std::string& path,
                                         bool allow_external_paths) {
  const nlohmann::json j = parse_json_strict(text, path);
  if (!j.is_object()) throw Error(path + ": the world description must be a JSON object");
  const JsonField f{j, path};
  WorldDescription d;
  d.dir = dir;
  try {
    d.name = j.at("name").get<std::string>();
    d.image_width = static_cast<int>(f.integer("image.width", 1, 8192, std::nullopt));
    d.image_height = static_cast<int>(f.integer("image.height", 1, 8192, std::nullopt));
    d.latent_channels = f.integer("latent.channels", 1, 4096, std::nullopt);
    d.latent_height = f.integer("latent.height", 1, 1024, std::nullopt);
    d.latent_width = f.integer("latent.width", 1, 1024, std::nullopt);
    d.fps = f.number("fps", 0.0, 1000.0, /*lo_open=*/true, 30.0);
    const auto& s = j.at("sampler");
    d.steps = s.at("steps").get<std::vector<int>>();
    if (d.steps.empty() || d.steps.size() > 64) throw Error(path + ": sampler.steps must list 1..64 timesteps");
    for (size_t i = 0; i < d.steps.size(); ++i)
      if (!s.at("steps")[i].is_number_integer() || d.steps[i] < 0 || d.steps[i] > 1000)
        throw Error(path + ": sampler.steps[" + std::to_string(i) + "] must be a whole timestep in 0..1000, got " +
                    f.shown(s.at("steps")[i]));
    d.shift = f.number("sampler.shift", 0.0, 1000.0, /*lo_open=*/true, 5.0);
    d.chunk = f.integer("sampler.chunk", 1, 64, 3);
    d.context_noise = static_cast<float>(f.number("sampler.context_noise", 0.0, 1000.0, false, 0.0));
    d.budget_frames = f.integer("cache.budget_frames", 1, kMaxBudgetFrames, std::nullopt);
    d.sink_frames = f.integer("cache.sink_frames", 0, kMaxBudgetFrames, 0);
    d.policy = j.at("cache").value("policy", std::string("full"));
    d.actions = j.at("actions").get<std::vector<std::string>>();
    if (j.contains("bindings")) d.bindings = j["bindings"].get<std::map<std::string, std::string>>();
    if (j.contains("presets")) d.presets = j["presets"].get<std::vector<std::string>>();
    d.prime_frames = f.integer("prime_frames", 0, kMaxPrimeFrames, 0);
    d.latent_scale = static_cast<float>(f.number("latent_scale", 1e-6, 1e6, false, 1.0));
    if (j.contains("start")) {
      const auto& st = j.at("start");
      d.start = parse_start_from(st.at("from").get<std::string>(), path);
      if (d.start == StartFrom::Clip) d.start_file = st.at("file").get<std::string>();
    }
    d.files = j.at("files").get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
  for (const char* part : {"dit", "decoder", "text_encoder", "tokenizer"})
    if (!d.files.count(part)) throw Error(path + ": files." + part + " is missing");
  // Every file the package names lies inside it (symlinks resolved) and is a regular file.
  for (const auto& [part, file] : d.files)
    require_regular_file(resolve_package_file(dir, file, path, "files." + part, allow_external_paths),
                         "the package's " + part);
  if (d.start == StartFrom::Clip)
    require_regular_file(resolve_package_file(dir, d.start_file, path, "start.file", allow_external_paths),
                         "the package's start clip");
  const std::vector<std::string> policies = cache::policy_names();
  if (std::find(policies.begin(), policies.end(), d.policy) == policies.end()) {
    std::string known;
    for (const std::string& p : policies) known += (known.empty() ? "" : ", ") + p;
    throw Error(path + ": cache.policy '" + d.policy + "' is not a cache policy (known: " + known + ")");
  }
  if (d.budget_frames < d.chunk + d.sink_frames)
    throw Error(path + ": cache.budget_frames " + std::to_string(d.budget_frames) + " cannot hold " +
                std::to_string(d.sink_frames) + " sink frames and a chunk of " + std::to_string(d.chunk));
  if (d.prime_frames % d.chunk) throw Error(path + ": prime_frames must be whole chunks");
  return d;
}

}  // namespace wl
