// Sampler::save_state / load_state (runtime/model/sampler.h): the sampler's
// part of a saved world state. The noise needs nothing: SeededNoise is
// counter-based, so a request's answer depends only on what it is for.
#include <string>

#include "runtime/core/error.h"
#include "runtime/model/sampler.h"

namespace wl {

namespace {

nlohmann::json settings_json(const SamplerSettings& s) {
  return {{"steps", s.steps},
          {"shift", s.shift},
          {"chunk", s.chunk},
          {"context_noise", s.context_noise},
          {"mode", s.mode == SamplerMode::Chunk ? "chunk" : "rolling"},
          {"height", s.height},
          {"width", s.width},
          {"total_chunks", s.total_chunks},
          {"sink_frames", s.sink_frames},
          {"recache_frames", s.recache_frames}};
}

}  // namespace

void Sampler::save_state(StateWriter& out, const std::string& prefix) const {
  if (!context_.defined()) throw Error("sampler: no prompt set, nothing to save");
  nlohmann::json& j = out.json()[prefix];
  j["settings"] = settings_json(settings_);
  j["chunks_done"] = chunks_done_;
  j["window"] = window_;
  j["started"] = started_;
  j["recached"] = recached_;
  out.tensor(prefix + ".context", context_);  // [L, text_dim]
  nlohmann::json active = nlohmann::json::array();
  for (size_t i = 0; i < active_.size(); ++i) {
    const Active& a = active_[i];
    active.push_back({{"chunk", a.chunk}, {"level", a.level}, {"actions", a.actions.defined()}});
    out.tensor(prefix + ".active." + std::to_string(i) + ".x", a.x);  // [chunk, C, H, W]
    if (a.actions.defined()) out.tensor(prefix + ".active." + std::to_string(i) + ".actions", a.actions);
  }
  j["active"] = active;
  nlohmann::json clean = nlohmann::json::array();
  for (const auto& [index, c] : clean_) {
    clean.push_back({{"chunk", index}, {"actions", c.actions.defined()}});
    out.tensor(prefix + ".clean." + std::to_string(index) + ".x0", c.x0);  // [chunk, C, H, W]
    if (c.actions.defined()) out.tensor(prefix + ".clean." + std::to_string(index) + ".actions", c.actions);
  }
  j["clean"] = clean;
  j["cond_concat"] = cond_concat_.defined();
  if (cond_concat_.defined()) out.tensor(prefix + ".cond_concat", cond_concat_);  // [F, Cc, H, W]
  j["pixel_actions"] = pixel_actions_.keyboard.defined();
  if (pixel_actions_.keyboard.defined()) {
    out.tensor(prefix + ".keyboard", pixel_actions_.keyboard);  // [N, K]
    if (pixel_actions_.mouse.defined()) out.tensor(prefix + ".mouse", pixel_actions_.mouse);  // [N, 2]
  }
}

void Sampler::load_state(const StateReader& in, const std::string& prefix) {
  if (started_) throw Error("sampler: a state loads only into a sampler that has made no chunk");
  const nlohmann::json& saved = in.at(prefix + "/settings");
  const nlohmann::json mine = settings_json(settings_);
  for (const auto& [key, value] : mine.items())
    if (!saved.contains(key) || saved[key] != value)
      in.fail("the state's sampler has " + key + " " + (saved.contains(key) ? saved[key].dump() : "(none)") +
              ", this world's has " + value.dump() + " (a state of another world or configuration)");
  const Shape one = chunk_shape();
  const int64_t chunks_done = in.integer(prefix + "/chunks_done");
  const int64_t window = in.integer(prefix + "/window");
  if (chunks_done < 0 || window < 0 || chunks_done > (int64_t{1} << 40) || window > (int64_t{1} << 40))
    in.fail("the state's sampler counters are out of range");
  const Tensor context = in.tensor_any(prefix + ".context", 2);  // checked by the model below

  std::deque<Active> active;
  const nlohmann::json& aj = in.at(prefix + "/active");
  if (!aj.is_array() || aj.size() > schedule_.size()) in.fail("the state's rolling window is not a list of chunks");
  for (size_t i = 0; i < aj.size(); ++i) {
    Active a;
    if (!aj[i].is_object() || !aj[i].contains("chunk") || !aj[i]["chunk"].is_number_integer() ||
        !aj[i].contains("level") || !aj[i]["level"].is_number_unsigned() || !aj[i].contains("actions") ||
        !aj[i]["actions"].is_boolean())
      in.fail("the state's rolling window entry " + std::to_string(i) + " is malformed");
    a.chunk = aj[i]["chunk"].get<int64_t>();
    a.level = aj[i]["level"].get<size_t>();
    if (a.level >= schedule_.size() || a.chunk < 0 || a.chunk >= window)
      in.fail("the state's rolling window entry " + std::to_string(i) + " is out of range");
    a.x = in.tensor(prefix + ".active." + std::to_string(i) + ".x", one);
    if (aj[i]["actions"].get<bool>()) a.actions = in.tensor_any(prefix + ".active." + std::to_string(i) + ".actions", 2);
    active.push_back(std::move(a));
  }
  std::map<int64_t, Clean> clean;
  const nlohmann::json& cj = in.at(prefix + "/clean");
  if (!cj.is_array()) in.fail("the state's clean chunks are not a list");
  for (size_t i = 0; i < cj.size(); ++i) {
    if (!cj[i].is_object() || !cj[i].contains("chunk") || !cj[i]["chunk"].is_number_integer() ||
        !cj[i].contains("actions") || !cj[i]["actions"].is_boolean())
      in.fail("the state's clean chunk entry " + std::to_string(i) + " is malformed");
    const int64_t index = cj[i]["chunk"].get<int64_t>();
    if (index < 0 || index >= std::max<int64_t>(chunks_done, 1) + 1)
      in.fail("the state's clean chunk " + std::to_string(index) + " is out of range");
    Clean k;
    k.x0 = in.tensor(prefix + ".clean." + std::to_string(index) + ".x0", one);
    if (cj[i]["actions"].get<bool>()) k.actions = in.tensor_any(prefix + ".clean." + std::to_string(index) + ".actions", 2);
    clean[index] = std::move(k);
  }
  Tensor cond;
  if (in.boolean(prefix + "/cond_concat")) cond = in.tensor_any(prefix + ".cond_concat", 4);
  PixelFrameActions pixel;
  if (in.boolean(prefix + "/pixel_actions")) {
    pixel.keyboard = in.tensor_any(prefix + ".keyboard", 2);
    if (in.has(prefix + ".mouse")) pixel.mouse = in.tensor_any(prefix + ".mouse", 2);
  }
  std::vector<int64_t> recached;
  try {
    recached = in.at(prefix + "/recached").get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception&) {
    in.fail("the state's re-cached frames are not a list of frames");
  }

  try {
    if (cond.defined()) set_image_condition(cond);
    set_prompt(context);  // not started yet: sets the prompt, no re-cache
  } catch (const Error& e) {
    in.fail(std::string("the state's prompt or image condition does not fit this model: ") + e.what());
  }
  chunks_done_ = chunks_done;
  window_ = window;
  started_ = in.boolean(prefix + "/started");
  active_ = std::move(active);
  clean_ = std::move(clean);
  recached_ = std::move(recached);
  pixel_actions_ = std::move(pixel);
}

}  // namespace wl
