#include "runtime/model/world_description.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "cache/cache_policy.h"
#include "runtime/core/error.h"
#include "runtime/core/input_file.h"
#include "runtime/core/json_fields.h"

namespace wl {

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
  const JsonFields f(j, path);
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
    if (!s.is_object()) throw Error(path + ": sampler must be an object");
    // Checked before any conversion: 1e40 used to reach an int (undefined behaviour, found by fuzzing).
    d.steps = f.integer_list("sampler.steps", 0, 1000, 1, 64, std::nullopt);
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
