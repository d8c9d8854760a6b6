// A test-case or fixture safetensors file read for its float tensors only.
// Case files carry other dtypes too (umT5's case holds its tokenizer as a U8
// tensor); the validating reader takes F32/BF16/F16, so this drops the other
// entries from the header and validates the rest with SafetensorsFile.
#pragma once
#include <string>
#include <vector>

#include "runtime/core/safetensors.h"

namespace wl {

// Throws wl::Error naming the file when it cannot be read or is not a
// safetensors file; `skipped` (if given) receives the names left out.
// The file must be a regular file (a FIFO or /dev/zero is refused by name).
SafetensorsFile open_float_tensors(const std::string& path, std::vector<std::string>* skipped = nullptr);

// The same on a file's bytes; errors name `path`. (The fuzz target
// tests/fuzz/fuzz_case_file.cpp calls it.)
SafetensorsFile float_tensors_from_bytes(const std::string& path, const std::string& bytes,
                                         std::vector<std::string>* skipped = nullptr);

}  // namespace wl
