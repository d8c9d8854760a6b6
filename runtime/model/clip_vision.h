// The CLIP ViT-H/14 vision tower as MG2 uses it (specs/encoders.md §2):
// bicubic squash to S x S and CLIP normalisation, patch + class + position
// embedding, pre-norm, then all transformer blocks but the last
// (use_31_block); no post_norm, no head, the class token kept as row 0. The
// output is MG2's `visual_context` [N, D].
//
// Parameters are named as in models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth
// (`visual.` prefix); the configuration comes from the shapes, with the
// head count from the file's `__metadata__.config` (vision_heads) or
// D / 80 (ViT-H/14) otherwise.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/ops.h"
#include "runtime/core/tensor.h"
#include "runtime/core/weight_map.h"

namespace wl {

struct ClipVisionConfig {
  int64_t dim = 1280, heads = 16, layers = 32, patch = 14, image_size = 224, mlp = 5120;
  float eps = 1e-5f;
  int64_t grid() const { return image_size / patch; }
  int64_t tokens() const { return 1 + grid() * grid(); }
  int64_t head_dim() const { return dim / heads; }
};

// §2.1 step 1: frame [3, H, W] in [-1, 1] -> [3, S, S] by PyTorch's bicubic
// (A = -0.75, align_corners False, edge clamp, no antialias, no clamping).
Tensor clip_bicubic_resize(const Tensor& frame, int64_t size);
// §2.1 step 2: (r * 0.5 + 0.5 - mean) / std with OpenAI CLIP's constants.
Tensor clip_normalize(const Tensor& resized);

class ClipVision {
 public:
  explicit ClipVision(const WeightMap& weights, ops::MatmulPrecision precision = ops::MatmulPrecision::F32);
  const ClipVisionConfig& config() const { return config_; }

  struct Taps {
    Tensor embed;               // [N, D] after pre_norm
    std::vector<Tensor> block;  // [N, D] after each block that ran
  };
  // pixels [3, S, S] (clip_normalize's output) -> tokens [N, D] after
  // `blocks` blocks (default: layers - 1, MG2's use_31_block).
  Tensor forward(const Tensor& pixels, int64_t blocks = -1, Taps* taps = nullptr) const;
  // post_norm of the tokens: in the file, never used by MG2 (for contrast only).
  Tensor post_norm(const Tensor& tokens) const;

 private:
  struct Block {
    Tensor norm1_w, norm1_b, norm2_w, norm2_b;  // [D]
    ops::LinearWeight to_qkv, proj, mlp_0, mlp_2;
  };
  ClipVisionConfig config_;
  std::string path_;
  ops::LinearWeight patch_embedding_;  // [D, 3*P*P], no bias
  Tensor cls_embedding_, pos_embedding_;  // [D], [N, D]
  Tensor pre_norm_w_, pre_norm_b_, post_norm_w_, post_norm_b_;  // [D]
  std::vector<Block> blocks_;
};

}  // namespace wl
