#include "runtime/core/state_file.h"

#include <cstring>

#include "runtime/core/error.h"
#include "runtime/core/input_file.h"
#include "runtime/core/ops.h"

namespace wl {

namespace {

template <class T>
Tensor bytes_tensor(const std::vector<T>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size() * sizeof(T))}, DType::U8);
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
  return t;
}

}  // namespace

void StateWriter::add(const std::string& name, Tensor t) {
  for (const auto& [n, existing] : tensors_)
    if (n == name) throw Error("world state: '" + name + "' written twice");
  tensors_.emplace_back(name, std::move(t));
}

void StateWriter::tensor(const std::string& name, const Tensor& t) {
  if (!t.defined()) throw Error("world state: '" + name + "' is undefined");
  const Tensor host = t.backend() == Backend::CPU ? t : ops::to_backend(t, Backend::CPU);
  // A view may alias memory that changes before the file is written: copy it.
  Tensor copy = Tensor::empty(host.shape());
  if (host.dtype() != DType::F32) copy = host.to(DType::F32);
  else if (host.numel()) std::memcpy(copy.raw(), host.raw(), host.nbytes());
  add(name, std::move(copy));
}

void StateWriter::f32(const std::string& name, const std::vector<float>& values) {
  add(name, Tensor::from_floats(values, {static_cast<int64_t>(values.size())}));
}
void StateWriter::i64(const std::string& name, const std::vector<int64_t>& values) { add(name, bytes_tensor(values)); }
void StateWriter::f64(const std::string& name, const std::vector<double>& values) { add(name, bytes_tensor(values)); }
void StateWriter::u8(const std::string& name, const uint8_t* data, size_t size) {
  Tensor t = Tensor::empty({static_cast<int64_t>(size)}, DType::U8);
  if (size) std::memcpy(t.raw(), data, size);
  add(name, std::move(t));
}

void StateWriter::write(const std::string& path) const {
  write_safetensors(path, tensors_,
                    {{"format", kStateFormatName},
                     {"version", std::to_string(kStateFormatVersion)},
                     {"state", json_.dump()}});
}

StateReader::StateReader(SafetensorsFile file) : file_(std::move(file)) {
  const auto& meta = file_.metadata();
  auto get = [&](const char* key) -> const std::string* {
    auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  const std::string* format = get("format");
  if (!format || *format != kStateFormatName)
    fail("not a worldloop world state (its metadata has no \"format\": \"worldloop-state\")");
  const std::string* version = get("version");
  if (!version) fail("a world state without a format version");
  if (*version != std::to_string(kStateFormatVersion))
    fail("a world state of format version " + *version + "; this build reads version " +
         std::to_string(kStateFormatVersion) + " only");
  const std::string* state = get("state");
  if (!state) fail("a world state without its \"state\" document");
  json_ = parse_json_strict(*state, file_.path() + " (its state document)");
  if (!json_.is_object()) fail("the state document is not a JSON object");
}

StateReader StateReader::open(const std::string& path) { return StateReader(SafetensorsFile::open(path)); }

StateReader StateReader::from_bytes(const std::string& label, const uint8_t* data, size_t size) {
  return StateReader(SafetensorsFile::from_bytes(label, data, size));
}

void StateReader::fail(const std::string& what) const { throw Error(file_.path() + ": " + what); }

const nlohmann::json& StateReader::at(const std::string& key) const {
  const nlohmann::json* j = &json_;
  size_t from = 0;
  while (from <= key.size()) {
    const size_t slash = key.find('/', from);
    const std::string part = key.substr(from, slash == std::string::npos ? std::string::npos : slash - from);
    if (!j->is_object() || !j->contains(part)) fail("the state has no '" + key + "'");
    j = &(*j)[part];
    if (slash == std::string::npos) break;
    from = slash + 1;
  }
  return *j;
}

int64_t StateReader::integer(const std::string& key) const {
  const nlohmann::json& j = at(key);
  if (!j.is_number_integer()) fail("'" + key + "' is not an integer");
  return j.get<int64_t>();
}
double StateReader::number(const std::string& key) const {
  const nlohmann::json& j = at(key);
  if (!j.is_number()) fail("'" + key + "' is not a number");
  return j.get<double>();
}
bool StateReader::boolean(const std::string& key) const {
  const nlohmann::json& j = at(key);
  if (!j.is_boolean()) fail("'" + key + "' is not true or false");
  return j.get<bool>();
}
std::string StateReader::string(const std::string& key) const {
  const nlohmann::json& j = at(key);
  if (!j.is_string()) fail("'" + key + "' is not a string");
  return j.get<std::string>();
}

const TensorInfo& StateReader::entry(const std::string& name, DType dtype) const {
  if (!file_.has(name)) fail("the state has no entry '" + name + "'");
  const TensorInfo& info = file_.info(name);
  if (info.dtype != dtype)
    fail("'" + name + "' is " + dtype_name(info.dtype) + ", expected " + dtype_name(dtype));
  return info;
}

Tensor StateReader::tensor_any(const std::string& name, int rank) const {
  const TensorInfo& info = entry(name, DType::F32);
  if (rank >= 0 && static_cast<int>(info.shape.size()) != rank)
    fail("'" + name + "' has shape " + shape_str(info.shape) + ", expected rank " + std::to_string(rank));
  const Tensor view = file_.get(name);
  Tensor copy = Tensor::empty(info.shape);
  if (copy.numel()) std::memcpy(copy.raw(), view.raw(), copy.nbytes());
  return copy;
}

Tensor StateReader::tensor(const std::string& name, const Shape& shape) const {
  const TensorInfo& info = entry(name, DType::F32);
  if (info.shape != shape)
    fail("'" + name + "' has shape " + shape_str(info.shape) + ", this world needs " + shape_str(shape));
  return tensor_any(name);
}

std::vector<float> StateReader::f32(const std::string& name, int64_t count) const {
  const Tensor t = tensor_any(name, 1);
  if (count >= 0 && t.numel() != count)
    fail("'" + name + "' holds " + std::to_string(t.numel()) + " values, expected " + std::to_string(count));
  return std::vector<float>(t.f32(), t.f32() + t.numel());
}

std::vector<uint8_t> StateReader::bytes(const std::string& name, int64_t count, size_t element) const {
  const TensorInfo& info = entry(name, DType::U8);
  if (info.shape.size() != 1) fail("'" + name + "' has shape " + shape_str(info.shape) + ", expected rank 1");
  const uint64_t n = info.end - info.begin;
  if (n % element) fail("'" + name + "' holds " + std::to_string(n) + " bytes, not whole values");
  if (count >= 0 && n / element != static_cast<uint64_t>(count))
    fail("'" + name + "' holds " + std::to_string(n / element) + " values, expected " + std::to_string(count));
  const Tensor view = file_.get(name);
  const uint8_t* p = static_cast<const uint8_t*>(view.raw());
  return std::vector<uint8_t>(p, p + n);
}

std::vector<int64_t> StateReader::i64(const std::string& name, int64_t count) const {
  const std::vector<uint8_t> b = bytes(name, count, sizeof(int64_t));
  std::vector<int64_t> out(b.size() / sizeof(int64_t));
  if (!out.empty()) std::memcpy(out.data(), b.data(), b.size());
  return out;
}

std::vector<double> StateReader::f64(const std::string& name, int64_t count) const {
  const std::vector<uint8_t> b = bytes(name, count, sizeof(double));
  std::vector<double> out(b.size() / sizeof(double));
  if (!out.empty()) std::memcpy(out.data(), b.data(), b.size());
  return out;
}

std::vector<uint8_t> StateReader::u8(const std::string& name, int64_t count) const { return bytes(name, count, 1); }

}  // namespace wl
