// A saved world state (`play --save-state-at`, F5): one safetensors file
// whose metadata holds {"format": "worldloop-state", "version": "<n>",
// "state": "<JSON>"} and whose tensors hold the arrays. Each part of a world
// (the KV store, its policy, the sampler, the session, the loop) writes its
// own entries under a prefix and reads them back; the reader checks every
// entry's presence, type and size and refuses by name, naming the file.
//
// Arrays: float tensors as F32 of any shape; integers (int64) and doubles as
// U8 tensors of their little-endian bytes (size a multiple of 8).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/core/safetensors.h"
#include "runtime/core/tensor.h"

namespace wl {

inline constexpr int kStateFormatVersion = 1;
inline constexpr const char* kStateFormatName = "worldloop-state";

class StateWriter {
 public:
  // Scalars and small structures: the JSON document saved in the metadata.
  nlohmann::json& json() { return json_; }

  // A float tensor of any backend (copied to the host) or a host array.
  void tensor(const std::string& name, const Tensor& t);
  void f32(const std::string& name, const std::vector<float>& values);
  void i64(const std::string& name, const std::vector<int64_t>& values);
  void f64(const std::string& name, const std::vector<double>& values);
  void u8(const std::string& name, const uint8_t* data, size_t size);

  // Writes the file (atomically: a temporary file renamed into place).
  void write(const std::string& path) const;

 private:
  void add(const std::string& name, Tensor t);
  nlohmann::json json_ = nlohmann::json::object();
  std::vector<std::pair<std::string, Tensor>> tensors_;
};

class StateReader {
 public:
  // Opens and validates `path`: a safetensors file of format worldloop-state
  // at this build's version. Throws wl::Error naming the file otherwise.
  static StateReader open(const std::string& path);
  static StateReader from_bytes(const std::string& label, const uint8_t* data, size_t size);

  const std::string& path() const { return file_.path(); }
  const nlohmann::json& json() const { return json_; }
  // A JSON value at a '/'-separated path of object keys, checked for its type;
  // the error names the key.
  int64_t integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::string string(const std::string& key) const;
  const nlohmann::json& at(const std::string& key) const;

  bool has(const std::string& name) const { return file_.has(name); }
  // The entries' names and stored types (for tools and the fuzz target).
  std::vector<std::string> names() const { return file_.names(); }
  DType dtype_of(const std::string& name) const { return file_.info(name).dtype; }
  // A float tensor of exactly `shape` (a copy).
  Tensor tensor(const std::string& name, const Shape& shape) const;
  // A float tensor of any shape (a copy); `rank` checked when >= 0.
  Tensor tensor_any(const std::string& name, int rank = -1) const;
  std::vector<float> f32(const std::string& name, int64_t count = -1) const;
  std::vector<int64_t> i64(const std::string& name, int64_t count = -1) const;
  std::vector<double> f64(const std::string& name, int64_t count = -1) const;
  std::vector<uint8_t> u8(const std::string& name, int64_t count = -1) const;

  // Throws wl::Error "<path>: <what>".
  [[noreturn]] void fail(const std::string& what) const;

 private:
  explicit StateReader(SafetensorsFile file);
  const TensorInfo& entry(const std::string& name, DType dtype) const;
  std::vector<uint8_t> bytes(const std::string& name, int64_t count, size_t element) const;

  SafetensorsFile file_;
  nlohmann::json json_;
};

}  // namespace wl
