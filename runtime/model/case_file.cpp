#include "runtime/model/case_file.h"

#include <nlohmann/json.hpp>

#include "runtime/core/error.h"
#include "runtime/core/input_file.h"

namespace wl {

SafetensorsFile open_float_tensors(const std::string& path, std::vector<std::string>* skipped) {
  return float_tensors_from_bytes(path, read_small_file(path, "the case file", InputLimits::kCaseBytes), skipped);
}

SafetensorsFile float_tensors_from_bytes(const std::string& path, const std::string& bytes,
                                         std::vector<std::string>* skipped) {
  if (bytes.size() < 8) return SafetensorsFile::from_bytes(path, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | static_cast<unsigned char>(bytes[i]);
  nlohmann::json header;
  bool parsed = header_len <= bytes.size() - 8;
  if (parsed) {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_len),
                                   nullptr, false);
    parsed = header.is_object();
  }
  // Anything odd: let the validating reader say what is wrong.
  if (!parsed) return SafetensorsFile::from_bytes(path, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  nlohmann::json kept = nlohmann::json::object();
  for (auto it = header.begin(); it != header.end(); ++it) {
    const nlohmann::json& e = it.value();
    const bool float_entry = it.key() == "__metadata__" || !e.is_object() || !e.contains("dtype") ||
                             !e["dtype"].is_string() || e["dtype"] == "F32" || e["dtype"] == "BF16" ||
                             e["dtype"] == "F16";
    if (float_entry)
      kept[it.key()] = e;
    else if (skipped)
      skipped->push_back(it.key());
  }
  std::string text = kept.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  std::string image(8, '\0');
  for (int i = 0; i < 8; ++i) image[i] = static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * i)) & 0xFF);
  image += text;
  image.append(bytes, 8 + header_len, std::string::npos);
  return SafetensorsFile::from_bytes(path, reinterpret_cast<const uint8_t*>(image.data()), image.size());
}

}  // namespace wl
