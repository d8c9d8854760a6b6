// What turns a prompt into the DiT's context, whichever encoder it is: the
// shipped worlds' small text encoder (text_encoder.h) or Wan's umT5-XXL.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/core/tensor.h"

namespace wl {

class PromptEncoder {
 public:
  virtual ~PromptEncoder() = default;
  // The context's width: the DiT's text_dim.
  virtual int64_t width() const = 0;
  // A prompt -> the context [L, width] the DiT attends to (F32).
  virtual Tensor context(const std::string& text) const = 0;
};

}  // namespace wl
