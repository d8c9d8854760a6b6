// The two implementations behind cuda::attention (attention.cu picks one):
// the own flash kernel (attention_flash.cu, f32 throughout, any shape) and
// cuDNN's fused SDPA in bf16 (attention_cudnn.cu, the shapes cuDNN takes).
// Same contract as cuda::attention: device tensors, queued on stream().
#pragma once
#include <vector>

#include "runtime/cuda/ops_cuda.h"

namespace wl::cuda {

// out[Lq, H, d] = softmax(q k^T * scale + bias) v in f32; head_dim up to 256.
void attention_flash(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out);

// The same through cuDNN with bf16 q, k, v (f32 softmax and accumulation).
// Returns false, having written nothing to `out`, when cuDNN does not take
// the call (remembered per shape; one log line the first time).
bool attention_cudnn(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out);

}  // namespace wl::cuda
