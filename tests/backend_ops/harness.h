// tests/backend_ops: every op of runtime/core/ops.h from one table of cases,
// run on every available backend (and, for ops that take a MatmulPrecision,
// under each precision) against the float64 references of
// tests/support/reference_ops. In the style of llama.cpp's test-backend-ops;
// see README.md for how to add an op.
#pragma once
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"

namespace wl::backend_ops {

using ops::MatmulPrecision;

// How to make one input of a case, on the host, from the case's seeded
// generator. `make` null: an absent optional input (an undefined Tensor).
struct Input {
  std::string name;
  Shape shape;
  DType dtype = DType::F32;
  std::function<Tensor(std::mt19937&)> make;
  bool shown = true;  // named with its shape in the case's description
};
// Values uniform in [lo, hi) (tests/support's ref::uniform), optionally
// converted to `dtype` (a checkpoint weight in BF16 or F16).
Input uniform(std::string name, Shape s, float lo = -2.0f, float hi = 2.0f, DType dtype = DType::F32);
Input normal(std::string name, Shape s);                       // standard normal
Input values(std::string name, std::vector<float> v);          // exactly these, [n]
Input zeros(std::string name, Shape s, DType dtype = DType::F32);
Input none(std::string name);                                  // undefined Tensor
Input hidden(Input in);                                        // left out of the description

// What a case's run and reference see: its inputs, the backend and the
// precision of this run.
class Args {
 public:
  Backend backend = Backend::CPU;
  MatmulPrecision precision = MatmulPrecision::F32;

  // Input i on `backend`: a fresh copy for each test run, so in-place ops
  // may write it.
  Tensor& in(size_t i) { return dev_.at(i); }
  // Input i as made, on the host (for references, and for the prepare_*
  // calls, which take checkpoint weights on the host).
  const Tensor& host(size_t i) const { return host_.at(i); }
  // Output slot i on `backend`, allocated on the first call (repeated perf
  // runs reuse it).
  Tensor& out(size_t i, const Shape& s, DType dtype = DType::F32);
  // Something built once per run context (a prepared weight), on the first call.
  template <class T, class Make>
  const T& once(Make&& make) {
    if (!once_) once_ = std::make_shared<T>(make());
    return *static_cast<const T*>(once_.get());
  }

  // Harness side.
  Args(std::vector<Tensor> host, Backend b, MatmulPrecision p);

 private:
  std::vector<Tensor> host_, dev_;
  std::deque<Tensor> out_;  // grows without moving: out(0)'s reference survives out(1)
  std::shared_ptr<void> once_;
};

using Outputs = std::vector<Tensor>;                    // on a.backend
using References = std::vector<std::vector<double>>;   // one per output

// A tolerance per backend and precision. Unset (NaN) entries fall back:
// CUDA/BF16 -> cuda -> cpu_bf16 -> cpu; CUDA/F32 -> cpu; CPU/BF16 -> cpu.
struct Tol {
  double cpu = 0;
  double cpu_bf16 = NAN;
  double cuda = NAN;
  double cuda_bf16 = NAN;
  double at(Backend b, MatmulPrecision p) const;
};

enum class Metric {
  Normalised,  // max |a - b| / max |b| (ref::normalised_error)
  Relative,    // max |a - b| / (|b| + floor) per element (ref::relative_error)
};

// One row of the table.
struct Case {
  std::string op;       // the ops:: function; -o filters on it
  std::string params;   // what the shapes do not say ("affine w+b", "in place", "tpf 5")
  std::vector<Input> inputs;
  Tol tol;              // error <= tol passes; 0 means exact
  std::function<Outputs(Args&)> run;             // calls the op on a.in(...)
  std::function<References(const Args&)> reference;  // float64, from a.host(...); null for refusals
  bool precisions = false;   // run under each MatmulPrecision (ops that take one), else F32 only
  Metric metric = Metric::Normalised;
  double floor = 0;          // Metric::Relative's floor
  bool refuses = false;      // the op must throw a wl::Error whose message starts "op: "

  // The inputs, made from `seed` (host tensors; undefined for none()).
  std::vector<Tensor> make_inputs(uint32_t seed) const;
  // "x [7, 130] w [130] affine w+b": the shown inputs' shapes, then params.
  // It also seeds the inputs, so no row's inputs depend on another row.
  std::string describe() const;
};

// The table (cases.cpp).
std::vector<Case> make_cases();

// A refusal row: `run` must throw a wl::Error whose message starts "op: "
// (ops.cpp's form), for the shape and dtype errors ops.h promises.
Case refusal(std::string op, std::string params, std::vector<Input> inputs, std::function<void(Args&)> run);

}  // namespace wl::backend_ops
