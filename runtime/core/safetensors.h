// safetensors files: a validating, mmap-backed reader and a float writer.
//
// Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping
// tensor names to {dtype, shape, data_offsets:[begin,end]} (offsets relative to
// the byte after the header) plus an optional "__metadata__" string map, then
// the data. The reader validates everything before handing out a tensor; every
// failure throws wl::Error naming the file, the tensor and the problem.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/tensor.h"

namespace wl {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0;  // byte offset of the data, relative to the data section
  uint64_t end = 0;
};

class SafetensorsFile {
 public:
  // Maps `path` read-only and validates it. Throws wl::Error.
  static SafetensorsFile open(const std::string& path);
  // Validates an in-memory image (used by tests and the fuzzer); `label`
  // names it in error messages. The bytes are copied.
  static SafetensorsFile from_bytes(const std::string& label, const uint8_t* data, size_t size);

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensor names in file order of their data offsets.
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws when missing
  // Zero-copy view of the tensor's bytes (keeps the mapping alive). Throws when missing.
  Tensor get(const std::string& name) const;
  // The tensor converted to F32 (copy when the stored dtype differs).
  Tensor get_f32(const std::string& name) const;

 private:
  std::string path_;
  std::shared_ptr<void> mapping_;  // owns the mmap (or the copied bytes)
  const uint8_t* data_section_ = nullptr;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
};

// Writes tensors (any dtype, CPU) with optional metadata. Throws wl::Error on I/O failure.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace wl

// WeightMap (the name -> tensor map of any checkpoint) used to live here;
// callers that include this header for it keep compiling.
#include "runtime/core/weight_map.h"
