// The pieces a row is made of (harness.h).
#include "tests/backend_ops/harness.h"

#include <utility>

#include "runtime/core/error.h"
#include "tests/support/reference_ops.h"

namespace wl::backend_ops {

Input uniform(std::string name, Shape s, float lo, float hi, DType dtype) {
  return {std::move(name), s, dtype, [=](std::mt19937& g) {
            Tensor t = ref::uniform(s, g, lo, hi);
            return dtype == DType::F32 ? t : t.to(dtype);
          }};
}

Input normal(std::string name, Shape s) {
  return {std::move(name), s, DType::F32, [=](std::mt19937& g) {
            std::normal_distribution<float> n;
            Tensor t = Tensor::empty(s);
            for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = n(g);
            return t;
          }};
}

Input values(std::string name, std::vector<float> v) {
  const Shape s{static_cast<int64_t>(v.size())};
  return {std::move(name), s, DType::F32, [v = std::move(v)](std::mt19937&) {
            return Tensor::from_floats(v, {static_cast<int64_t>(v.size())});
          }};
}

Input zeros(std::string name, Shape s, DType dtype) {
  return {std::move(name), s, dtype, [=](std::mt19937&) { return Tensor::zeros(s, dtype); }};
}

Input none(std::string name) { return {std::move(name), {}, DType::F32, nullptr}; }

Input hidden(Input in) {
  in.shown = false;
  return in;
}

Args::Args(std::vector<Tensor> host, Backend b, MatmulPrecision p) : backend(b), precision(p), host_(std::move(host)) {
  for (const Tensor& t : host_) {
    if (!t.defined())
      dev_.emplace_back();
    else
      dev_.push_back(b == Backend::CPU ? t.clone() : ops::to_backend(t, b));
  }
}

Tensor& Args::out(size_t i, const Shape& s, DType dtype) {
  if (out_.size() <= i) out_.resize(i + 1);
  if (!out_[i].defined() || out_[i].shape() != s || out_[i].dtype() != dtype) out_[i] = ops::empty(s, backend, dtype);
  return out_[i];
}

double Tol::at(Backend b, MatmulPrecision p) const {
  const bool bf16 = p == MatmulPrecision::BF16;
  if (b == Backend::CUDA) {
    if (bf16 && !std::isnan(cuda_bf16)) return cuda_bf16;
    if (!std::isnan(cuda)) return cuda;
  }
  if (bf16 && !std::isnan(cpu_bf16)) return cpu_bf16;
  return cpu;
}

std::vector<Tensor> Case::make_inputs(uint32_t seed) const {
  std::mt19937 g(seed);
  std::vector<Tensor> made;
  for (const Input& in : inputs) made.push_back(in.make ? in.make(g) : Tensor());
  return made;
}

std::string Case::describe() const {
  std::string s;
  for (const Input& in : inputs) {
    if (!in.shown || !in.make) continue;
    if (!s.empty()) s += ' ';
    s += in.name + " " + shape_str(in.shape);
    if (in.dtype != DType::F32) s += std::string(" ") + dtype_name(in.dtype);
  }
  if (!params.empty()) s += (s.empty() ? "" : " ") + params;
  return s;
}

Case refusal(std::string op, std::string params, std::vector<Input> inputs, std::function<void(Args&)> run) {
  Case c;
  c.op = std::move(op);
  c.params = std::move(params);
  c.inputs = std::move(inputs);
  c.run = [run = std::move(run)](Args& a) -> Outputs {
    run(a);
    return {};
  };
  c.refuses = true;
  return c;
}

}  // namespace wl::backend_ops
