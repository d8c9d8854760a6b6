// Tensor: a shape, a dtype and a backend over a shared storage.
//
// Tensors are plain values that share their storage (copying a Tensor copies a
// reference, not the data); `clone()` copies the data. Views into memory owned
// by someone else (an mmap'd weights file) keep that owner alive through
// `keepalive`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace wl {

// U8 holds images (fixtures' uint8 pixels); weights are F32, BF16 or F16 only.
enum class DType : uint8_t { F32, BF16, F16, U8 };
enum class Backend : uint8_t { CPU, CUDA };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "F32", "BF16", "F16" (safetensors spelling)

// Scalar conversions (round-to-nearest-even for the narrowing ones).
float bf16_to_f32(uint16_t v);
uint16_t f32_to_bf16(float v);
float f16_to_f32(uint16_t v);
uint16_t f32_to_f16(float v);

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);  // "[3, 4, 8, 8]"

class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-initialised storage on the CPU.
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  // Allocates uninitialised storage on the CPU.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  // Wraps memory that `keepalive` owns (no copy).
  static Tensor view(void* data, const Shape& shape, DType dtype,
                     std::shared_ptr<void> keepalive, Backend backend = Backend::CPU);
  // Copies `values` into a new F32 tensor.
  static Tensor from_floats(const std::vector<float>& values, const Shape& shape);

  bool defined() const { return data_ != nullptr || (!shape_.empty() && numel() == 0); }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Backend backend() const { return backend_; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <class T> T* data() { return static_cast<T*>(data_); }
  template <class T> const T* data() const { return static_cast<const T*>(data_); }
  float* f32() { return data<float>(); }
  const float* f32() const { return data<float>(); }

  // Same storage, new shape with the same element count.
  Tensor reshape(const Shape& shape) const;
  // Deep copy (CPU).
  Tensor clone() const;
  // Converted copy (CPU); returns a clone when the dtype already matches.
  Tensor to(DType dtype) const;
  // All elements as float (CPU, any dtype).
  std::vector<float> to_floats() const;
  // No element is NaN or Inf (CPU, F32): one pass, no early exit.
  bool all_finite() const;

 private:
  Shape shape_;
  DType dtype_ = DType::F32;
  Backend backend_ = Backend::CPU;
  void* data_ = nullptr;
  std::shared_ptr<void> keepalive_;
};

}  // namespace wl
