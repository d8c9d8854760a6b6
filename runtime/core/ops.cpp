// The op set's front door: every ops:: function checks its arguments (ranks,
// shapes, dtypes, backends) and throws a wl::Error naming the op and the
// shapes on a mismatch, then dispatches on the backend of its tensors to
// wl::cpu (runtime/cpu/) or, once built, wl::cuda (runtime/cuda/).
#include "runtime/core/ops.h"

#include <cstring>
#include <initializer_list>
#include <string>

#include "runtime/cpu/cpu_isa.h"
#include "runtime/cpu/ops_cpu.h"
#include "runtime/core/error.h"
// Declarations only: without the CUDA backend its calls are never made, but
// decltype() gives each op's result type, so one macro serves ops that return a
// value and ops that return nothing.
#include "runtime/cuda/ops_cuda.h"
#ifdef WORLDLOOP_HAS_CUDA
#define WL_ON_CUDA(op, call) cuda::call
#else
#define WL_ON_CUDA(op, call) (no_cuda(op), decltype(cuda::call)())
#endif

namespace wl::ops {

namespace {

std::string S(const Tensor& t) { return t.defined() ? shape_str(t.shape()) : std::string("(undefined)"); }

[[noreturn]] void fail(const char* op, const std::string& msg) { throw Error(std::string(op) + ": " + msg); }

[[noreturn, maybe_unused]] void no_cuda(const char* op) { fail(op, "CUDA backend not built"); }

void need_defined(const char* op, const char* name, const Tensor& t) {
  if (!t.defined()) fail(op, std::string(name) + " is undefined");
}

void need_f32(const char* op, const char* name, const Tensor& t) {
  need_defined(op, name, t);
  if (t.dtype() != DType::F32)
    fail(op, std::string(name) + " " + S(t) + " has dtype " + dtype_name(t.dtype()) + ", expected F32");
}

void need_rank(const char* op, const char* name, const Tensor& t, int rank) {
  if (t.rank() != rank)
    fail(op, std::string(name) + " " + S(t) + " has rank " + std::to_string(t.rank()) + ", expected " +
                 std::to_string(rank));
}

void need_same(const char* op, const char* an, const Tensor& a, const char* bn, const Tensor& b) {
  if (a.shape() != b.shape()) fail(op, std::string(an) + " " + S(a) + " and " + bn + " " + S(b) + " differ");
}

// An optional per-feature vector: undefined, or F32 with D elements.
void need_vec_or_none(const char* op, const char* name, const Tensor& t, int64_t D) {
  if (!t.defined()) return;
  need_f32(op, name, t);
  if (t.rank() != 1 || t.dim(0) != D)
    fail(op, std::string(name) + " " + S(t) + " does not match width " + std::to_string(D));
}

void need_backend(const char* op, Backend b) {
  if (!backend_available(b)) fail(op, backend_unavailable_reason(b));
}

// The common backend of the defined tensors; mixed backends are an error, and
// so is a backend that cannot run (CUDA tensors without a usable device).
Backend backend_of(const char* op, std::initializer_list<const Tensor*> ts) {
  bool have = false;
  Backend b = Backend::CPU;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    if (!have) {
      b = t->backend();
      have = true;
    } else if (t->backend() != b) {
      fail(op, "tensors are on different backends");
    }
  }
  need_backend(op, b);
  return b;
}

// Checks x [.., D] (rank >= 1) F32 and returns D.
int64_t last_dim(const char* op, const char* name, const Tensor& x) {
  need_f32(op, name, x);
  if (x.rank() < 1) fail(op, std::string(name) + " " + S(x) + " must have rank >= 1");
  return x.dim(-1);
}

// Checks mod [F, R, D] against x [T, D], a row index and tokens_per_frame.
void check_mod(const char* op, const Tensor& x, const Tensor& mod, std::initializer_list<int> rows,
               int64_t tokens_per_frame) {
  need_f32(op, "mod", mod);
  need_rank(op, "mod", mod, 3);
  if (mod.dim(2) != x.dim(1)) fail(op, "x " + S(x) + " and mod " + S(mod) + " differ in width");
  for (int r : rows)
    if (r < 0 || r >= mod.dim(1))
      fail(op, "row " + std::to_string(r) + " out of range for mod " + S(mod));
  if (tokens_per_frame <= 0) fail(op, "tokens_per_frame " + std::to_string(tokens_per_frame) + " must be > 0");
  const int64_t T = x.dim(0);
  if (T > 0 && (T - 1) / tokens_per_frame >= mod.dim(0))
    fail(op, "x " + S(x) + " with " + std::to_string(tokens_per_frame) + " tokens per frame needs more frames than mod " +
                 S(mod) + " has");
}

}  // namespace

// ---- memory ---------------------------------------------------------------------

bool backend_available(Backend b) {
  if (b == Backend::CPU) return true;
#ifdef WORLDLOOP_HAS_CUDA
  return cuda::device_available();
#else
  return false;
#endif
}

std::string backend_unavailable_reason(Backend b) {
  if (b == Backend::CPU) return {};
#ifdef WORLDLOOP_HAS_CUDA
  std::string why;
  return cuda::device_available(&why) ? std::string() : why;
#else
  return "CUDA backend not built (configure with -DWORLDLOOP_CUDA=ON)";
#endif
}

bool backend_unavailable_is_a_problem(Backend b) {
  if (b == Backend::CPU) return false;
#ifdef WORLDLOOP_HAS_CUDA
  bool warn = false;
  return !cuda::device_available(nullptr, &warn) && warn;
#else
  return false;
#endif
}

Tensor empty(const Shape& shape, Backend on, DType dtype) {
  const char* op = "empty";
  for (int64_t d : shape)
    if (d < 0) fail(op, "negative dimension in " + shape_str(shape));
  switch (on) {
    case Backend::CPU: return Tensor::empty(shape, dtype);
    case Backend::CUDA: need_backend(op, on); return WL_ON_CUDA(op, empty(shape, dtype));
  }
  fail(op, "unknown backend");
}

Tensor zeros(const Shape& shape, Backend on, DType dtype) {
  const char* op = "zeros";
  for (int64_t d : shape)
    if (d < 0) fail(op, "negative dimension in " + shape_str(shape));
  switch (on) {
    case Backend::CPU: return Tensor::zeros(shape, dtype);
    case Backend::CUDA: need_backend(op, on); return WL_ON_CUDA(op, zeros(shape, dtype));
  }
  fail(op, "unknown backend");
}

void copy(const Tensor& src, Tensor& dst) {
  const char* op = "copy";
  need_defined(op, "src", src);
  need_defined(op, "dst", dst);
  need_same(op, "src", src, "dst", dst);
  if (src.dtype() != dst.dtype())
    fail(op, std::string("src has dtype ") + dtype_name(src.dtype()) + ", dst " + dtype_name(dst.dtype()));
  if (src.backend() == Backend::CPU && dst.backend() == Backend::CPU) {
    if (src.nbytes() && src.raw() != dst.raw()) std::memcpy(dst.raw(), src.raw(), src.nbytes());
    return;
  }
  WL_ON_CUDA(op, copy(src, dst));
}

Tensor to_backend(const Tensor& src, Backend on) {
  need_defined("to_backend", "src", src);
  if (src.backend() == on) return src;
  Tensor dst = empty(src.shape(), on, src.dtype());
  copy(src, dst);
  return dst;
}

void synchronize(Backend b) {
  if (b == Backend::CUDA) WL_ON_CUDA("synchronize", synchronize());
}

// ---- matrix products ---------------------------------------------------------

MatmulPrecision best_matmul_precision() { return cpu::best_matmul_precision(); }

MatmulPrecision parse_precision(const std::string& value, const std::string& flag) {
  if (value == "auto") return best_matmul_precision();
  if (value == "f32" || value == "F32") return MatmulPrecision::F32;
  if (value == "bf16" || value == "BF16") return MatmulPrecision::BF16;
  throw Error(flag + " must be auto, f32 or bf16, got '" + value + "'");
}

CpuInfo cpu_info() {
  CpuInfo info;
  info.onednn_isa = cpu::onednn_isa_name();
  info.kernels = cpu::kernel_isa_name(cpu::kernel_isa());
  info.native_bf16 = cpu::native_bf16();
  info.build_arch = cpu::build_arch();
  return info;
}

std::string describe_cpu(MatmulPrecision p) {
  const CpuInfo c = cpu_info();
  std::string s = c.onednn_isa + " (kernels " + c.kernels + "), " + precision_name(p);
  if (p == MatmulPrecision::BF16) s += c.native_bf16 ? " native" : " emulated in f32";
  return s;
}

const char* precision_name(MatmulPrecision p) {
  switch (p) {
    case MatmulPrecision::F32: return "F32";
    case MatmulPrecision::BF16: return "BF16";
  }
  return "?";
}

LinearWeight prepare_linear(const Tensor& weight, const Tensor& bias, MatmulPrecision precision, Backend on) {
  const char* op = "prepare_linear";
  need_defined(op, "weight", weight);
  need_rank(op, "weight", weight, 2);
  if (bias.defined()) {
    if (bias.rank() != 1 || bias.dim(0) != weight.dim(0))
      fail(op, "bias " + S(bias) + " does not match weight " + S(weight));
  }
  if (precision != MatmulPrecision::F32 && precision != MatmulPrecision::BF16)
    fail(op, "unknown precision");
  if (backend_of(op, {&weight, &bias}) != Backend::CPU) fail(op, "checkpoint weights must be given on the CPU");
  switch (on) {
    case Backend::CPU: return cpu::prepare_linear(weight, bias, precision);
    case Backend::CUDA: need_backend(op, on); return WL_ON_CUDA(op, prepare_linear(weight, bias, precision));
  }
  fail(op, "unknown backend");
}

void linear(const Tensor& x, const LinearWeight& w, Tensor& y) {
  const char* op = "linear";
  need_f32(op, "x", x);
  need_f32(op, "y", y);
  need_rank(op, "x", x, 2);
  need_rank(op, "y", y, 2);
  need_defined(op, "weight", w.weight);
  need_rank(op, "weight", w.weight, 2);
  const DType want = w.precision == MatmulPrecision::BF16 ? DType::BF16 : DType::F32;
  if (w.weight.dtype() != want)
    fail(op, std::string("weight ") + S(w.weight) + " has dtype " + dtype_name(w.weight.dtype()) +
                 " but precision " + precision_name(w.precision));
  if (x.dim(1) != w.in_features()) fail(op, "x " + S(x) + " and weight " + S(w.weight) + " differ in K");
  if (y.dim(0) != x.dim(0) || y.dim(1) != w.out_features())
    fail(op, "y " + S(y) + " must be [" + std::to_string(x.dim(0)) + ", " + std::to_string(w.out_features()) +
                 "] for x " + S(x) + " and weight " + S(w.weight));
  if (w.bias.defined()) {
    need_f32(op, "bias", w.bias);
    if (w.bias.rank() != 1 || w.bias.dim(0) != w.out_features())
      fail(op, "bias " + S(w.bias) + " does not match weight " + S(w.weight));
  }
  switch (backend_of(op, {&x, &y, &w.weight, &w.bias})) {
    case Backend::CPU: return cpu::linear(x, w, y);
    case Backend::CUDA: return WL_ON_CUDA(op, linear(x, w, y));
  }
}

// ---- normalisation and modulation ------------------------------------------

void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, Tensor& y) {
  const char* op = "layer_norm";
  const int64_t D = last_dim(op, "x", x);
  need_f32(op, "y", y);
  need_same(op, "x", x, "y", y);
  need_vec_or_none(op, "weight", weight, D);
  need_vec_or_none(op, "bias", bias, D);
  switch (backend_of(op, {&x, &y, &weight, &bias})) {
    case Backend::CPU: return cpu::layer_norm(x, weight, bias, eps, y);
    case Backend::CUDA: return WL_ON_CUDA(op, layer_norm(x, weight, bias, eps, y));
  }
}

void layer_norm_modulate(const Tensor& x, const Tensor& mod, int shift_row, int scale_row,
                         int64_t tokens_per_frame, float eps, Tensor& y) {
  const char* op = "layer_norm_modulate";
  need_f32(op, "x", x);
  need_rank(op, "x", x, 2);
  need_f32(op, "y", y);
  need_same(op, "x", x, "y", y);
  check_mod(op, x, mod, {shift_row, scale_row}, tokens_per_frame);
  switch (backend_of(op, {&x, &y, &mod})) {
    case Backend::CPU: return cpu::layer_norm_modulate(x, mod, shift_row, scale_row, tokens_per_frame, eps, y);
    case Backend::CUDA: return WL_ON_CUDA(op, layer_norm_modulate(x, mod, shift_row, scale_row, tokens_per_frame, eps, y));
  }
}

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& y) {
  const char* op = "rms_norm";
  const int64_t D = last_dim(op, "x", x);
  need_f32(op, "y", y);
  need_same(op, "x", x, "y", y);
  need_vec_or_none(op, "weight", weight, D);
  switch (backend_of(op, {&x, &y, &weight})) {
    case Backend::CPU: return cpu::rms_norm(x, weight, eps, y);
    case Backend::CUDA: return WL_ON_CUDA(op, rms_norm(x, weight, eps, y));
  }
}

void gated_add(Tensor& x, const Tensor& y, const Tensor& mod, int gate_row, int64_t tokens_per_frame) {
  const char* op = "gated_add";
  need_f32(op, "x", x);
  need_rank(op, "x", x, 2);
  need_f32(op, "y", y);
  need_same(op, "x", x, "y", y);
  check_mod(op, x, mod, {gate_row}, tokens_per_frame);
  switch (backend_of(op, {&x, &y, &mod})) {
    case Backend::CPU: return cpu::gated_add(x, y, mod, gate_row, tokens_per_frame);
    case Backend::CUDA: return WL_ON_CUDA(op, gated_add(x, y, mod, gate_row, tokens_per_frame));
  }
}

void add(Tensor& x, const Tensor& y) {
  const char* op = "add";
  need_f32(op, "x", x);
  need_f32(op, "y", y);
  need_same(op, "x", x, "y", y);
  switch (backend_of(op, {&x, &y})) {
    case Backend::CPU: return cpu::add(x, y);
    case Backend::CUDA: return WL_ON_CUDA(op, add(x, y));
  }
}

void mul(Tensor& x, const Tensor& y) {
  const char* op = "mul";
  need_f32(op, "x", x);
  need_f32(op, "y", y);
  need_same(op, "x", x, "y", y);
  switch (backend_of(op, {&x, &y})) {
    case Backend::CPU: return cpu::mul(x, y);
    case Backend::CUDA: return WL_ON_CUDA(op, mul(x, y));
  }
}

void add_modulation(const Tensor& base, const Tensor& e, Tensor& out) {
  const char* op = "add_modulation";
  need_f32(op, "base", base);
  need_rank(op, "base", base, 2);
  need_f32(op, "e", e);
  need_f32(op, "out", out);
  need_rank(op, "out", out, 3);
  const int64_t R = base.dim(0), D = base.dim(1);
  if (e.rank() != 2 && e.rank() != 3) fail(op, "e " + S(e) + " must be [F, R, D] or [F, D]");
  const int64_t F = e.dim(0);
  if (e.rank() == 3 && (e.dim(1) != R || e.dim(2) != D)) fail(op, "e " + S(e) + " does not match base " + S(base));
  if (e.rank() == 2 && e.dim(1) != D) fail(op, "e " + S(e) + " does not match base " + S(base) + " in width");
  if (out.shape() != Shape{F, R, D}) fail(op, "out " + S(out) + " must be [" + std::to_string(F) + ", " +
                                                   std::to_string(R) + ", " + std::to_string(D) + "]");
  switch (backend_of(op, {&base, &e, &out})) {
    case Backend::CPU: return cpu::add_modulation(base, e, out);
    case Backend::CUDA: return WL_ON_CUDA(op, add_modulation(base, e, out));
  }
}

// ---- activations --------------------------------------------------------------

void gelu_tanh(Tensor& x) {
  const char* op = "gelu_tanh";
  need_f32(op, "x", x);
  switch (backend_of(op, {&x})) {
    case Backend::CPU: return cpu::gelu_tanh(x);
    case Backend::CUDA: return WL_ON_CUDA(op, gelu_tanh(x));
  }
}

void silu(Tensor& x) {
  const char* op = "silu";
  need_f32(op, "x", x);
  switch (backend_of(op, {&x})) {
    case Backend::CPU: return cpu::silu(x);
    case Backend::CUDA: return WL_ON_CUDA(op, silu(x));
  }
}

// ---- positions ----------------------------------------------------------------

void rope_3d(Tensor& x, int64_t frame0, int64_t frames, int64_t rows, int64_t cols) {
  const char* op = "rope_3d";
  need_f32(op, "x", x);
  need_rank(op, "x", x, 3);
  if (frame0 < 0) fail(op, "frame0 " + std::to_string(frame0) + " must be >= 0");
  if (frames < 0 || rows < 0 || cols < 0)
    fail(op, "negative grid " + std::to_string(frames) + " x " + std::to_string(rows) + " x " + std::to_string(cols));
  if (x.dim(0) != frames * rows * cols)
    fail(op, "x " + S(x) + " has " + std::to_string(x.dim(0)) + " tokens but the grid " + std::to_string(frames) +
                 " x " + std::to_string(rows) + " x " + std::to_string(cols) + " has " +
                 std::to_string(frames * rows * cols));
  if (x.dim(2) % 2 != 0) fail(op, "x " + S(x) + " head width must be even");
  switch (backend_of(op, {&x})) {
    case Backend::CPU: return cpu::rope_3d(x, frame0, frames, rows, cols);
    case Backend::CUDA: return WL_ON_CUDA(op, rope_3d(x, frame0, frames, rows, cols));
  }
}

void rms_norm_rope_3d(const Tensor& x, const Tensor& weight, float eps, int64_t frame0, int64_t frames,
                      int64_t rows, int64_t cols, Tensor& normed, Tensor& rotated) {
  const char* op = "rms_norm_rope_3d";
  need_f32(op, "x", x);
  need_rank(op, "x", x, 3);
  need_f32(op, "normed", normed);
  need_f32(op, "rotated", rotated);
  need_same(op, "x", x, "normed", normed);
  need_same(op, "x", x, "rotated", rotated);
  need_vec_or_none(op, "weight", weight, x.dim(1) * x.dim(2));
  if (frame0 < 0) fail(op, "frame0 " + std::to_string(frame0) + " must be >= 0");
  if (frames < 0 || rows < 0 || cols < 0 || x.dim(0) != frames * rows * cols)
    fail(op, "x " + S(x) + " does not hold a grid of " + std::to_string(frames) + " x " + std::to_string(rows) +
                 " x " + std::to_string(cols) + " tokens");
  if (x.dim(2) % 2 != 0) fail(op, "x " + S(x) + " head width must be even");
  switch (backend_of(op, {&x, &weight, &normed, &rotated})) {
    case Backend::CPU: {
      const Shape flat{x.dim(0), x.dim(1) * x.dim(2)};
      Tensor n2 = normed.reshape(flat);
      cpu::rms_norm(x.reshape(flat), weight, eps, n2);
      if (rotated.raw() != normed.raw()) std::memcpy(rotated.raw(), normed.raw(), normed.nbytes());
      return cpu::rope_3d(rotated, frame0, frames, rows, cols);
    }
    case Backend::CUDA:
      return WL_ON_CUDA(op, rms_norm_rope_3d(x, weight, eps, frame0, frames, rows, cols, normed, rotated));
  }
}

// ---- attention ----------------------------------------------------------------

void attention(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out,
               MatmulPrecision precision) {
  const char* op = "attention";
  need_f32(op, "q", q);
  need_rank(op, "q", q, 3);
  need_f32(op, "out", out);
  need_same(op, "q", q, "out", out);
  int64_t total = 0;
  for (size_t i = 0; i < kv.size(); ++i) {
    const KVSegment& s = kv[i];
    if (s.len < 0) fail(op, "segment " + std::to_string(i) + " has negative length " + std::to_string(s.len));
    if (s.len > 0 && (s.k == nullptr || s.v == nullptr))
      fail(op, "segment " + std::to_string(i) + " of length " + std::to_string(s.len) + " has no keys or values");
    total += s.len;
  }
  if (total == 0 && q.dim(0) > 0) fail(op, "q " + S(q) + " attends to no keys");
  switch (backend_of(op, {&q, &out})) {
    case Backend::CPU: return cpu::attention(q, kv, scale, out);
    case Backend::CUDA: return WL_ON_CUDA(op, attention(q, kv, scale, out, precision));
  }
}

void biased_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& bias, const Tensor& key_mask,
                      float scale, Tensor& out) {
  const char* op = "biased_attention";
  need_f32(op, "q", q);
  need_rank(op, "q", q, 3);
  need_f32(op, "k", k);
  need_rank(op, "k", k, 3);
  need_f32(op, "v", v);
  need_same(op, "k", k, "v", v);
  need_f32(op, "out", out);
  need_same(op, "q", q, "out", out);
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2), Lk = k.dim(0);
  if (k.dim(1) != H || k.dim(2) != d) fail(op, "q " + S(q) + " and k " + S(k) + " differ in heads or head width");
  if (bias.defined()) {
    need_f32(op, "bias", bias);
    if (bias.shape() != Shape{H, Lq, Lk})
      fail(op, "bias " + S(bias) + " must be [" + std::to_string(H) + ", " + std::to_string(Lq) + ", " +
                   std::to_string(Lk) + "] for q " + S(q) + " and k " + S(k));
  }
  if (key_mask.defined()) {
    need_f32(op, "key_mask", key_mask);
    if (key_mask.shape() != Shape{Lk}) fail(op, "key_mask " + S(key_mask) + " must be [" + std::to_string(Lk) + "]");
  }
  if (out.defined() && (out.raw() == q.raw() || out.raw() == k.raw() || out.raw() == v.raw()) && out.numel() > 0)
    fail(op, "out must not alias q, k or v");
  switch (backend_of(op, {&q, &k, &v, &bias, &key_mask, &out})) {
    case Backend::CPU: return cpu::biased_attention(q, k, v, bias, key_mask, scale, out);
    case Backend::CUDA: return WL_ON_CUDA(op, biased_attention(q, k, v, bias, key_mask, scale, out));
  }
}

// ---- rows ---------------------------------------------------------------------

namespace {

// Checks an F32 table of rank >= 1 and returns its row count.
int64_t table_rows(const char* op, const char* name, const Tensor& t) {
  need_f32(op, name, t);
  if (t.rank() < 1) fail(op, std::string(name) + " " + S(t) + " must have rank >= 1");
  return t.dim(0);
}

// rows [n, ...] must have the row shape of table [R, ...].
void need_row_shape(const char* op, const char* tn, const Tensor& table, const char* rn, const Tensor& rows) {
  bool same = rows.rank() == table.rank();
  for (int i = 1; same && i < table.rank(); ++i) same = rows.dim(i) == table.dim(i);
  if (!same) fail(op, std::string(rn) + " " + S(rows) + " does not have the row shape of " + tn + " " + S(table));
}

// Every index in [lo, rows); with `distinct`, none twice (-1 exempt when lo is -1).
void need_indices(const char* op, const char* name, const std::vector<int32_t>& index, int64_t rows, int32_t lo,
                  bool distinct) {
  std::vector<uint8_t> seen(distinct ? static_cast<size_t>(rows) : 0, 0);
  for (size_t i = 0; i < index.size(); ++i) {
    const int32_t r = index[i];
    if (r < lo || r >= rows)
      fail(op, std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(r) + " is not a row of " +
                   std::to_string(rows) + (lo < 0 ? " (or -1)" : ""));
    if (distinct && r >= 0) {
      if (seen[r]) fail(op, std::string(name) + " names row " + std::to_string(r) + " twice");
      seen[r] = 1;
    }
  }
}

}  // namespace

void set_rows(Tensor& table, const std::vector<int32_t>& index, const Tensor& rows) {
  const char* op = "set_rows";
  const int64_t R = table_rows(op, "table", table);
  need_f32(op, "rows", rows);
  need_row_shape(op, "table", table, "rows", rows);
  if (static_cast<int64_t>(index.size()) != rows.dim(0))
    fail(op, "index has " + std::to_string(index.size()) + " entries for rows " + S(rows));
  need_indices(op, "index", index, R, 0, true);
  switch (backend_of(op, {&table, &rows})) {
    case Backend::CPU: return cpu::set_rows(table, index, rows);
    case Backend::CUDA: return WL_ON_CUDA(op, set_rows(table, index, rows));
  }
}

void get_rows(const Tensor& table, const std::vector<int32_t>& index, Tensor& out) {
  const char* op = "get_rows";
  const int64_t R = table_rows(op, "table", table);
  need_f32(op, "out", out);
  need_row_shape(op, "table", table, "out", out);
  if (static_cast<int64_t>(index.size()) != out.dim(0))
    fail(op, "index has " + std::to_string(index.size()) + " entries for out " + S(out));
  need_indices(op, "index", index, R, -1, false);
  if (out.numel() > 0 && table.numel() > 0 && out.raw() == table.raw()) fail(op, "out and table share memory");
  switch (backend_of(op, {&table, &out})) {
    case Backend::CPU: return cpu::get_rows(table, index, out);
    case Backend::CUDA: return WL_ON_CUDA(op, get_rows(table, index, out));
  }
}

void merge_rows(Tensor& table, const std::vector<RowMerge>& merges) {
  const char* op = "merge_rows";
  const int64_t R = table_rows(op, "table", table);
  for (size_t i = 0; i < merges.size(); ++i) {
    const RowMerge& m = merges[i];
    if (m.into < 0 || m.into >= R || m.from < 0 || m.from >= R)
      fail(op, "merge " + std::to_string(i) + " (" + std::to_string(m.into) + " <- " + std::to_string(m.from) +
                   ") names a row outside table " + S(table));
    if (m.into == m.from) fail(op, "merge " + std::to_string(i) + " merges row " + std::to_string(m.into) + " with itself");
  }
  switch (backend_of(op, {&table})) {
    case Backend::CPU: return cpu::merge_rows(table, merges);
    case Backend::CUDA: return WL_ON_CUDA(op, merge_rows(table, merges));
  }
}

// ---- scores over cached keys -----------------------------------------------------

std::vector<float> attention_mass(const Tensor& q, const Tensor& keys, const std::vector<int32_t>& rows,
                                  const Tensor& bias, int64_t queries, float scale) {
  const char* op = "attention_mass";
  need_f32(op, "q", q);
  need_rank(op, "q", q, 3);
  need_f32(op, "keys", keys);
  need_rank(op, "keys", keys, 3);
  if (keys.dim(1) != q.dim(1) || keys.dim(2) != q.dim(2))
    fail(op, "q " + S(q) + " and keys " + S(keys) + " differ in heads or head width");
  if (q.dim(0) < 1) fail(op, "q " + S(q) + " has no tokens");
  if (queries < 1) fail(op, "queries " + std::to_string(queries) + " must be >= 1");
  need_indices(op, "rows", rows, keys.dim(0), 0, true);
  if (bias.defined()) {
    need_f32(op, "bias", bias);
    if (bias.rank() != 1 || bias.dim(0) != keys.dim(0))
      fail(op, "bias " + S(bias) + " is not one value per row of keys " + S(keys));
  }
  switch (backend_of(op, {&q, &keys, &bias})) {
    case Backend::CPU: return cpu::attention_mass(q, keys, rows, bias, queries, scale);
    case Backend::CUDA: return WL_ON_CUDA(op, attention_mass(q, keys, rows, bias, queries, scale));
  }
  fail(op, "unknown backend");
}

void query_sums(const Tensor& x, std::vector<double>& sum, std::vector<double>& sum_sq) {
  const char* op = "query_sums";
  table_rows(op, "x", x);
  switch (backend_of(op, {&x})) {
    case Backend::CPU: return cpu::query_sums(x, sum, sum_sq);
    case Backend::CUDA: return WL_ON_CUDA(op, query_sums(x, sum, sum_sq));
  }
}

ExpectedScores expected_attention(const Tensor& keys, const Tensor& values, const std::vector<int32_t>& rows,
                                  const std::vector<float>& log_count, const ExpectedQuery& q,
                                  bool weight_by_value_norm, const std::vector<RowPair>& pairs, float cost_limit) {
  const char* op = "expected_attention";
  need_f32(op, "keys", keys);
  need_rank(op, "keys", keys, 3);
  need_f32(op, "values", values);
  need_same(op, "keys", keys, "values", values);
  const int64_t H = keys.dim(1), d = keys.dim(2), n = static_cast<int64_t>(rows.size());
  need_indices(op, "rows", rows, keys.dim(0), 0, false);
  if (static_cast<int64_t>(log_count.size()) != n)
    fail(op, "log_count has " + std::to_string(log_count.size()) + " entries for " + std::to_string(n) + " rows");
  if (q.offsets < 1) fail(op, "the expected query has " + std::to_string(q.offsets) + " offsets, expected >= 1");
  if (q.dt < 0 || q.dt > d)
    fail(op, "the expected query's time part of " + std::to_string(q.dt) + " floats does not fit heads of " +
                 std::to_string(d));
  auto need_size = [&](const char* name, size_t got, int64_t want) {
    if (static_cast<int64_t>(got) != want)
      fail(op, std::string("the expected query's ") + name + " has " + std::to_string(got) + " floats, expected " +
                   std::to_string(want) + " for keys " + S(keys));
  };
  need_size("time", q.time.size(), q.offsets * H * q.dt);
  need_size("space", q.space.size(), H * (d - q.dt));
  if (!q.var.empty()) need_size("var", q.var.size(), H * d);
  for (size_t i = 0; i < pairs.size(); ++i)
    if (pairs[i].a < 0 || pairs[i].a >= n || pairs[i].b < 0 || pairs[i].b >= n)
      fail(op, "pair " + std::to_string(i) + " (" + std::to_string(pairs[i].a) + ", " + std::to_string(pairs[i].b) +
                   ") is not two positions in " + std::to_string(n) + " rows");
  switch (backend_of(op, {&keys, &values})) {
    case Backend::CPU:
      return cpu::expected_attention(keys, values, rows, log_count, q, weight_by_value_norm, pairs, cost_limit);
    case Backend::CUDA:
      return WL_ON_CUDA(op, expected_attention(keys, values, rows, log_count, q, weight_by_value_norm, pairs,
                                               cost_limit));
  }
  fail(op, "unknown backend");
}

// ---- layout -------------------------------------------------------------------

void patchify(const Tensor& x, int ph, int pw, Tensor& patches) {
  const char* op = "patchify";
  need_f32(op, "x", x);
  need_rank(op, "x", x, 4);
  need_f32(op, "patches", patches);
  need_rank(op, "patches", patches, 2);
  if (ph <= 0 || pw <= 0) fail(op, "patch " + std::to_string(ph) + " x " + std::to_string(pw) + " must be positive");
  const int64_t F = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  if (H % ph != 0 || W % pw != 0)
    fail(op, "x " + S(x) + " is not divisible into " + std::to_string(ph) + " x " + std::to_string(pw) + " patches");
  const Shape want{F * (H / ph) * (W / pw), C * ph * pw};
  if (patches.shape() != want) fail(op, "patches " + S(patches) + " must be " + shape_str(want) + " for x " + S(x));
  switch (backend_of(op, {&x, &patches})) {
    case Backend::CPU: return cpu::patchify(x, ph, pw, patches);
    case Backend::CUDA: return WL_ON_CUDA(op, patchify(x, ph, pw, patches));
  }
}

void unpatchify(const Tensor& tokens, int64_t frames, int64_t h, int64_t w, int ph, int pw, int64_t channels,
                Tensor& out) {
  const char* op = "unpatchify";
  need_f32(op, "tokens", tokens);
  need_rank(op, "tokens", tokens, 2);
  need_f32(op, "out", out);
  need_rank(op, "out", out, 4);
  if (ph <= 0 || pw <= 0) fail(op, "patch " + std::to_string(ph) + " x " + std::to_string(pw) + " must be positive");
  if (frames < 0 || h < 0 || w < 0 || channels < 0) fail(op, "negative sizes");
  const Shape want_t{frames * h * w, ph * pw * channels};
  if (tokens.shape() != want_t)
    fail(op, "tokens " + S(tokens) + " must be " + shape_str(want_t) + " for " + std::to_string(frames) + " frames of " +
                 std::to_string(h) + " x " + std::to_string(w) + " patches of " + std::to_string(ph) + " x " +
                 std::to_string(pw) + " x " + std::to_string(channels));
  const Shape want_o{frames, channels, h * ph, w * pw};
  if (out.shape() != want_o) fail(op, "out " + S(out) + " must be " + shape_str(want_o) + " for tokens " + S(tokens));
  switch (backend_of(op, {&tokens, &out})) {
    case Backend::CPU: return cpu::unpatchify(tokens, frames, h, w, ph, pw, channels, out);
    case Backend::CUDA: return WL_ON_CUDA(op, unpatchify(tokens, frames, h, w, ph, pw, channels, out));
  }
}

// ---- convolutions -----------------------------------------------------------

ConvWeight prepare_conv2d(const Tensor& weight, const Tensor& bias, int stride, int padding, Backend on) {
  const char* op = "prepare_conv2d";
  need_defined(op, "weight", weight);
  need_rank(op, "weight", weight, 4);
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))
    fail(op, "bias " + S(bias) + " does not match weight " + S(weight));
  if (stride < 1 || padding < 0) fail(op, "stride must be >= 1 and padding >= 0");
  if (backend_of(op, {&weight, &bias}) != Backend::CPU) fail(op, "checkpoint weights must be given on the CPU");
  switch (on) {
    case Backend::CPU: return cpu::prepare_conv2d(weight, bias, stride, padding);
    case Backend::CUDA: need_backend(op, on); return WL_ON_CUDA(op, prepare_conv2d(weight, bias, stride, padding));
  }
  fail(op, "unknown backend");
}

void conv2d(const Tensor& x, const ConvWeight& w, Tensor& y) {
  const char* op = "conv2d";
  need_f32(op, "x", x);
  need_f32(op, "y", y);
  need_rank(op, "x", x, 4);
  need_rank(op, "y", y, 4);
  if (x.dim(1) != w.in_channels()) fail(op, "x " + S(x) + " and weight " + S(w.weight) + " differ in channels");
  const int64_t kh = w.weight.dim(2), kw = w.weight.dim(3);
  const int64_t ho = (x.dim(2) + 2 * w.padding - kh) / w.stride + 1;
  const int64_t wo = (x.dim(3) + 2 * w.padding - kw) / w.stride + 1;
  if (ho <= 0 || wo <= 0) fail(op, "x " + S(x) + " is smaller than the kernel " + S(w.weight));
  if (y.dim(0) != x.dim(0) || y.dim(1) != w.out_channels() || y.dim(2) != ho || y.dim(3) != wo)
    fail(op, "y " + S(y) + " should be [" + std::to_string(x.dim(0)) + ", " + std::to_string(w.out_channels()) +
                 ", " + std::to_string(ho) + ", " + std::to_string(wo) + "]");
  switch (backend_of(op, {&x, &y})) {
    case Backend::CPU: return cpu::conv2d(x, w, y);
    case Backend::CUDA: return WL_ON_CUDA(op, conv2d(x, w, y));
  }
}

ConvWeight prepare_conv3d(const Tensor& weight, const Tensor& bias, int padding) {
  const char* op = "prepare_conv3d";
  need_defined(op, "weight", weight);
  need_rank(op, "weight", weight, 5);
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != weight.dim(0)))
    fail(op, "bias " + S(bias) + " does not match weight " + S(weight));
  if (padding < 0) fail(op, "padding must be >= 0");
  if (backend_of(op, {&weight, &bias}) != Backend::CPU) fail(op, "weights must be given on the CPU");
  return cpu::prepare_conv3d(weight, bias, padding);
}

void conv3d_frames(const Tensor& x, const ConvWeight& w, Tensor& y) {
  const char* op = "conv3d_frames";
  need_f32(op, "x", x);
  need_f32(op, "y", y);
  need_rank(op, "x", x, 4);
  need_rank(op, "y", y, 4);
  if (w.weight.rank() != 5) fail(op, "the weight " + S(w.weight) + " was not prepared by prepare_conv3d");
  if (x.dim(1) != w.in_channels()) fail(op, "x " + S(x) + " and weight " + S(w.weight) + " differ in channels");
  const int64_t kt = w.weight.dim(2), kh = w.weight.dim(3), kw = w.weight.dim(4);
  const int64_t to = x.dim(0) - kt + 1;
  const int64_t ho = x.dim(2) + 2 * w.padding - kh + 1, wo = x.dim(3) + 2 * w.padding - kw + 1;
  if (to <= 0 || ho <= 0 || wo <= 0) fail(op, "x " + S(x) + " is smaller than the kernel " + S(w.weight));
  if (y.dim(0) != to || y.dim(1) != w.out_channels() || y.dim(2) != ho || y.dim(3) != wo)
    fail(op, "y " + S(y) + " should be [" + std::to_string(to) + ", " + std::to_string(w.out_channels()) + ", " +
                 std::to_string(ho) + ", " + std::to_string(wo) + "]");
  if (backend_of(op, {&x, &y}) != Backend::CPU) fail(op, "runs on the CPU only (no CUDA kernel yet)");
  cpu::conv3d_frames(x, w, y);
}

void upsample_nearest_2x(const Tensor& x, Tensor& y) {
  const char* op = "upsample_nearest_2x";
  need_f32(op, "x", x);
  need_f32(op, "y", y);
  need_rank(op, "x", x, 4);
  if (y.shape() != Shape{x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)})
    fail(op, "y " + S(y) + " is not x " + S(x) + " doubled in height and width");
  switch (backend_of(op, {&x, &y})) {
    case Backend::CPU: return cpu::upsample_nearest_2x(x, y);
    case Backend::CUDA: return WL_ON_CUDA(op, upsample_nearest_2x(x, y));
  }
}

}  // namespace wl::ops
