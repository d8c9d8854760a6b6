#include "runtime/core/tensor.h"

#include <cmath>
#include <cstdlib>

#include "runtime/core/error.h"

namespace wl {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::F16: return 2;
    case DType::U8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    case DType::U8: return "U8";
  }
  return "?";
}

float bf16_to_f32(uint16_t v) {
  uint32_t u = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { man <<= 1; ++e; } while ((man & 0x400u) == 0);
      u = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | man << 13;
  } else {
    u = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t au = u & 0x7fffffffu;
  if (au > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (au >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (au < 0x38800000u) {  // subnormal or zero in f16
    if (au < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t man = (au & 0x7fffffu) | 0x800000u;
    // v = man * 2^(e - 150); in units of f16's smallest subnormal (2^-24) that
    // is man * 2^(e - 126): drop 126 - e bits (14 at e = 112 .. 24 at e = 102).
    int shift = 126 - static_cast<int>(au >> 23);
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t r = au + 0xfffu + ((au >> 13) & 1u);  // round to nearest even at bit 13
  return static_cast<uint16_t>(sign | ((r - 0x38000000u) >> 13));
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

namespace {
std::shared_ptr<void> alloc_bytes(size_t n, bool zero) {
  // 64-byte alignment for vector loads; at least one byte so empty tensors have storage.
  size_t bytes = (n + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
  if (zero) std::memset(p, 0, bytes);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}
}  // namespace

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.keepalive_ = alloc_bytes(t.nbytes(), true);
  t.data_ = t.keepalive_.get();
  return t;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.keepalive_ = alloc_bytes(t.nbytes(), false);
  t.data_ = t.keepalive_.get();
  return t;
}

Tensor Tensor::view(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> keepalive,
                    Backend backend) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.backend_ = backend;
  t.data_ = data;
  t.keepalive_ = std::move(keepalive);
  return t;
}

Tensor Tensor::from_floats(const std::vector<float>& values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw Error("from_floats: " + std::to_string(values.size()) + " values for shape " + shape_str(shape));
  Tensor t = empty(shape);
  std::memcpy(t.raw(), values.data(), values.size() * 4);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (shape_numel(shape) != numel())
    throw Error("reshape " + shape_str(shape_) + " to " + shape_str(shape) + ": element count differs");
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::clone() const {
  if (backend_ != Backend::CPU) throw Error("clone: only CPU tensors can be cloned on the host");
  Tensor t = empty(shape_, dtype_);
  if (nbytes() > 0) std::memcpy(t.raw(), data_, nbytes());
  return t;
}

std::vector<float> Tensor::to_floats() const {
  if (backend_ != Backend::CPU) throw Error("to_floats: tensor is not on the CPU");
  std::vector<float> out(static_cast<size_t>(numel()));
  const int64_t n = numel();
  switch (dtype_) {
    case DType::F32:
      if (n > 0) std::memcpy(out.data(), data_, n * 4);
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(data<uint16_t>()[i]);
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(data<uint16_t>()[i]);
      break;
    case DType::U8:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(data<uint8_t>()[i]);
      break;
  }
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return clone();
  Tensor t = empty(shape_, dtype);
  std::vector<float> f = to_floats();
  const int64_t n = numel();
  switch (dtype) {
    case DType::F32:
      if (n > 0) std::memcpy(t.raw(), f.data(), n * 4);
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = f32_to_bf16(f[i]);
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = f32_to_f16(f[i]);
      break;
    case DType::U8:  // round to nearest, clamped to 0..255 (NaN -> 0)
      for (int64_t i = 0; i < n; ++i) {
        const float v = std::nearbyint(f[i]);
        t.data<uint8_t>()[i] = static_cast<uint8_t>(v >= 255.0f ? 255.0f : (v > 0.0f ? v : 0.0f));
      }
      break;
  }
  return t;
}

bool Tensor::all_finite() const {
  const float* p = f32();
  bool finite = true;
  for (int64_t i = 0, n = numel(); i < n; ++i) finite &= std::isfinite(p[i]);
  return finite;
}

}  // namespace wl
