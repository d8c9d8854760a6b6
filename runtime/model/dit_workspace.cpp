#include "runtime/model/dit_workspace.h"

#include <memory>

#include "runtime/core/ops.h"

namespace wl {

std::vector<std::pair<Tensor DitActivations::*, Shape>> activation_layout(const DitConfig& c,
                                                                          const DitCallShape& call) {
  const int64_t f = call.frames, H = call.height, W = call.width;
  const int64_t T = f * c.tokens_per_frame(H, W);
  const int64_t D = c.dim, heads = c.num_heads, d = c.head_dim();
  const int64_t patch = int64_t{c.patch_h} * c.patch_w;
  using A = DitActivations;
  std::vector<std::pair<Tensor A::*, Shape>> out = {
      {&A::x_in, {f, c.in_dim, H, W}},
      {&A::emb, {f, c.freq_dim}},
      {&A::t_hidden, {f, D}},
      {&A::e, {f, D}},
      {&A::e_silu, {f, D}},
      {&A::e0, {f, 6, D}},
      {&A::mod, {f, 6, D}},
      {&A::head_mod, {f, 2, D}},
      {&A::patches, {T, c.in_dim * patch}},
      {&A::x, {T, D}},
      {&A::h, {T, D}},
      {&A::q, {T, D}},
      {&A::k, {T, D}},
      {&A::v, {T, D}},
      {&A::q_raw, {T, heads, d}},
      {&A::q_rot, {T, heads, d}},
      {&A::k_raw, {T, heads, d}},
      {&A::k_rot, {T, heads, d}},
      {&A::attn, {T, heads, d}},
      {&A::y, {T, D}},
      {&A::ffn, {T, c.ffn_dim}},
      {&A::out_tokens, {T, patch * c.out_dim}},
      {&A::out, {f, c.out_dim, H, W}},
  };
  if (c.action_dim > 0) {
    out.push_back({&A::actions, {f, c.action_dim}});
    out.push_back({&A::a_hidden, {f, D}});
    out.push_back({&A::a_emb, {f, D}});
  }
  return out;
}

int64_t activation_bytes(const DitConfig& config, const DitCallShape& call) {
  int64_t n = 0;
  for (const auto& [member, shape] : activation_layout(config, call)) n += shape_numel(shape);
  return n * static_cast<int64_t>(sizeof(float));
}

DitActivations& DitWorkspace::views(const DitConfig& config, const DitCallShape& call) {
  const auto layout = activation_layout(config, call);
  storage_.resize(layout.size());
  for (size_t i = 0; i < layout.size(); ++i) {
    const auto& [member, shape] = layout[i];
    Tensor& buf = storage_[i];
    if (!buf.defined() || buf.numel() < shape_numel(shape)) {
      buf = ops::empty({shape_numel(shape)}, backend_);  // flat F32
      ++generation_;
    }
    // A view of the buffer's first elements in the call's shape; it keeps the buffer alive.
    views_.*member = Tensor::view(buf.raw(), shape, DType::F32, std::make_shared<Tensor>(buf), backend_);
  }
  return views_;
}

}  // namespace wl
