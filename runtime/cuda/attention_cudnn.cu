// Attention through cuDNN's fused scaled-dot-product attention: the SDPA
// forward operation of the backend API (CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR,
// cuDNN 9.13 and later) in bf16, softmax and accumulation in f32 inside cuDNN.
//
// Per call: q and the keys and values of every segment (one after the other)
// are rounded to bf16 into staging buffers laid out [S, H, d] (cuDNN sees them
// as [1, H, S, d] with strides), cuDNN writes a bf16 output [Lq, H, d] that is
// widened back into `out`.
//
// An execution plan is built once per shape (Lq, S, H, d) and cached. The
// staging buffers and the workspace are shared by all shapes (every op runs on
// one stream) and only grow. A shape cuDNN does not take (no plan builds, or
// the plan fails to run) is remembered as declined, logged once, and answered
// "no" at once afterwards; so are the calls the operation cannot express
// (checked before any cuDNN call):
//   - a per-key logit bias: the operation has no bias input (score-modifier
//     subgraphs arrive with cuDNN 9.21);
//   - a head width that is not a multiple of 8 (cuDNN's layout requirement).
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudnn_graph.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "runtime/cuda/attention_paths.h"
#include "runtime/cuda/cuda_check.h"

namespace wl::cuda {

namespace {

// ---- conversions ------------------------------------------------------------------

__global__ void f32_to_bf16_kernel(const float* __restrict__ src, __nv_bfloat16* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16* __restrict__ src, float* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __bfloat162float(src[i]);
}

unsigned conversion_blocks(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n + 255) / 256, 8192)); }

void to_bf16(const float* src, __nv_bfloat16* dst, int64_t n) {
  if (n == 0) return;
  f32_to_bf16_kernel<<<conversion_blocks(n), 256, 0, stream()>>>(src, dst, n);
  WL_CUDA_CHECK_LAUNCH();
}

void to_f32(const __nv_bfloat16* src, float* dst, int64_t n) {
  if (n == 0) return;
  bf16_to_f32_kernel<<<conversion_blocks(n), 256, 0, stream()>>>(src, dst, n);
  WL_CUDA_CHECK_LAUNCH();
}

// ---- plan building: a failed step means cuDNN does not take the shape ----------------

struct Declined {
  std::string why;
};

void build_check(cudnnStatus_t status, const char* what) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof detail);
  std::string why = std::string(what) + ": " + cudnnGetErrorString(status);
  if (detail[0]) why += std::string(" (") + detail + ")";
  throw Declined{why};
}

// Owns one backend descriptor.
struct Descriptor {
  cudnnBackendDescriptor_t d = nullptr;
  Descriptor() = default;
  Descriptor(Descriptor&& o) noexcept : d(std::exchange(o.d, nullptr)) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Descriptor& operator=(Descriptor&& o) noexcept {
    std::swap(d, o.d);
    return *this;
  }
  ~Descriptor() {
    if (d) cudnnBackendDestroyDescriptor(d);
  }
};

Descriptor make(cudnnBackendDescriptorType_t type) {
  Descriptor desc;
  build_check(cudnnBackendCreateDescriptor(type, &desc.d), "cudnnBackendCreateDescriptor");
  return desc;
}

void set(const Descriptor& desc, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
         const void* values, const char* what) {
  build_check(cudnnBackendSetAttribute(desc.d, name, type, count, values), what);
}

void set_desc(const Descriptor& desc, cudnnBackendAttributeName_t name, const Descriptor& value, const char* what) {
  set(desc, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &value.d, what);
}

// Tensor uids of the variant pack.
constexpr int64_t kUidQ = 1, kUidK = 2, kUidV = 3, kUidO = 4, kUidScale = 5;

// A bf16 tensor [1, H, S, d] over memory laid out [S, H, d].
Descriptor sequence_tensor(int64_t uid, int64_t S, int64_t H, int64_t d) {
  Descriptor t = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const cudnnDataType_t type = CUDNN_DATA_BFLOAT16;
  const int64_t dims[4] = {1, H, S, d};
  const int64_t strides[4] = {S * H * d, d, H * d, 1};
  const int64_t alignment = 16;
  set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "tensor uid");
  set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "tensor type");
  set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims, "tensor dims");
  set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides, "tensor strides");
  set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, "tensor alignment");
  build_check(cudnnBackendFinalize(t.d), "finalize tensor");
  return t;
}

// The attention scale: one f32 passed by value from the host.
Descriptor scale_tensor() {
  Descriptor t = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const cudnnDataType_t type = CUDNN_DATA_FLOAT;
  const int64_t one[4] = {1, 1, 1, 1};
  const int64_t uid = kUidScale, alignment = 4;
  const bool by_value = true;
  set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "scale uid");
  set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "scale type");
  set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, one, "scale dims");
  set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, one, "scale strides");
  set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, "scale alignment");
  set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value, "scale by value");
  build_check(cudnnBackendFinalize(t.d), "finalize scale tensor");
  return t;
}

// An execution plan and every descriptor it was built from.
struct Plan {
  std::vector<Descriptor> parts;
  Descriptor plan;
  int64_t workspace_bytes = 0;
};

std::unique_ptr<Plan> build_plan(cudnnHandle_t handle, int64_t Lq, int64_t S, int64_t H, int64_t d) {
#if CUDNN_VERSION >= 91300
  auto p = std::make_unique<Plan>();
  Descriptor tq = sequence_tensor(kUidQ, Lq, H, d), tk = sequence_tensor(kUidK, S, H, d),
             tv = sequence_tensor(kUidV, S, H, d), to = sequence_tensor(kUidO, Lq, H, d), ts = scale_tensor();

  Descriptor op = make(CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR);
  set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, tq, "sdpa q");
  set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, tk, "sdpa k");
  set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, tv, "sdpa v");
  set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, to, "sdpa o");
  set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, ts, "sdpa scale");
  build_check(cudnnBackendFinalize(op.d), "finalize sdpa operation");

  Descriptor graph = make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "graph handle");
  set_desc(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, op, "graph ops");
  build_check(cudnnBackendFinalize(graph.d), "finalize operation graph");

  // The first engine configuration that makes a plan, heuristics first.
  std::string last = "no engine configuration";
  for (const cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    Descriptor heur = make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    set_desc(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph, "heuristics graph");
    set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "heuristics mode");
    if (cudnnBackendFinalize(heur.d) != CUDNN_STATUS_SUCCESS) continue;
    int64_t count = 0;
    build_check(cudnnBackendGetAttribute(heur.d, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                         &count, nullptr),
                "heuristics count");
    std::vector<Descriptor> configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < count; ++i) {
      configs.push_back(make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
      raw.push_back(configs.back().d);
    }
    int64_t got = 0;
    if (count > 0)
      build_check(cudnnBackendGetAttribute(heur.d, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count,
                                           &got, raw.data()),
                  "heuristics results");
    for (int64_t i = 0; i < got; ++i) {
      Descriptor plan = make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
      set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "plan handle");
      set_desc(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, configs[i], "plan engine config");
      const cudnnStatus_t st = cudnnBackendFinalize(plan.d);
      if (st != CUDNN_STATUS_SUCCESS) {
        last = std::string("finalize plan: ") + cudnnGetErrorString(st);
        continue;
      }
      int64_t n = 0;
      build_check(cudnnBackendGetAttribute(plan.d, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n,
                                           &p->workspace_bytes),
                  "plan workspace size");
      p->plan = std::move(plan);
      p->parts.push_back(std::move(configs[i]));
      p->parts.push_back(std::move(heur));
      for (Descriptor* part : {&graph, &op, &tq, &tk, &tv, &to, &ts}) p->parts.push_back(std::move(*part));
      return p;
    }
  }
  throw Declined{last};
#else
  (void)handle, (void)Lq, (void)S, (void)H, (void)d;
  throw Declined{"cuDNN " + std::to_string(CUDNN_VERSION) + " has no SDPA operation (9.13 or later)"};
#endif
}

// ---- state --------------------------------------------------------------------------

// Device memory that only grows (a BF16 tensor used as bytes); the old block
// is freed in stream order when it is replaced.
struct Scratch {
  Tensor block;
  void* at_least(size_t bytes) {
    if (block.nbytes() < bytes) block = empty({static_cast<int64_t>((bytes + 1) / 2)}, DType::BF16);
    return block.raw();
  }
};

using ShapeKey = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // Lq, S, H, d

struct State {
  std::mutex mutex;
  bool handle_tried = false;
  cudnnHandle_t handle = nullptr;  // null when cuDNN is unusable
  std::map<ShapeKey, std::unique_ptr<Plan>> plans;  // a null plan: declined
  std::set<std::string> logged;                      // reasons already logged
  Scratch q16, k16, v16, o16, workspace;
};

// Never destroyed: cuDNN and device memory must not be released while the
// process exits (the driver may already be gone).
State& state() {
  static State* s = new State;
  return *s;
}

void log_once(State& st, const std::string& line) {
  if (st.logged.insert(line).second) std::fprintf(stderr, "worldloop: %s; using the flash kernel\n", line.c_str());
}

// The handle on the model stream, created on first use; null (logged) when
// cuDNN cannot be used at all.
cudnnHandle_t handle(State& st) {
  if (!st.handle_tried) {
    st.handle_tried = true;
    const size_t version = cudnnGetVersion();
    cudnnHandle_t h = nullptr;
    cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
    if (version < 91300)
      log_once(st, "cuDNN " + std::to_string(version) + " has no SDPA operation (9.13 or later)");
    else if ((status = cudnnCreate(&h)) != CUDNN_STATUS_SUCCESS)
      log_once(st, std::string("cuDNN unusable: cudnnCreate: ") + cudnnGetErrorString(status));
    else if ((status = cudnnSetStream(h, stream())) != CUDNN_STATUS_SUCCESS) {
      log_once(st, std::string("cuDNN unusable: cudnnSetStream: ") + cudnnGetErrorString(status));
      cudnnDestroy(h);
      h = nullptr;
    }
    st.handle = h;
  }
  return st.handle;
}

}  // namespace

bool attention_cudnn(const Tensor& q, const std::vector<KVSegment>& kv, float scale, Tensor& out) {
  const int64_t Lq = q.dim(0), H = q.dim(1), d = q.dim(2);
  int64_t S = 0;
  bool biased = false;
  for (const KVSegment& s : kv) {
    S += s.len;
    biased = biased || (s.bias != nullptr && s.len > 0);
  }

  State& st = state();
  const std::lock_guard<std::mutex> lock(st.mutex);
  if (biased) {
    log_once(st, "cuDNN's SDPA operation takes no per-key logit bias: biased attention");
    return false;
  }
  if (d % 8 != 0) {
    log_once(st, "cuDNN's SDPA needs a head width that is a multiple of 8, not " + std::to_string(d));
    return false;
  }
  const cudnnHandle_t h = handle(st);
  if (!h) return false;

  const ShapeKey key{Lq, S, H, d};
  auto found = st.plans.find(key);
  if (found == st.plans.end()) {
    std::unique_ptr<Plan> plan;
    try {
      plan = build_plan(h, Lq, S, H, d);
    } catch (const Declined& e) {
      log_once(st, "cuDNN SDPA declines attention Lq=" + std::to_string(Lq) + " S=" + std::to_string(S) +
                       " H=" + std::to_string(H) + " d=" + std::to_string(d) + " (" + e.why + ")");
    }
    found = st.plans.emplace(key, std::move(plan)).first;
  }
  const Plan* plan = found->second.get();
  if (!plan) return false;

  // Staging: q [Lq, H, d] and the keys and values of all segments [S, H, d] in bf16.
  const int64_t row = H * d;
  auto* q16 = static_cast<__nv_bfloat16*>(st.q16.at_least(Lq * row * sizeof(__nv_bfloat16)));
  auto* k16 = static_cast<__nv_bfloat16*>(st.k16.at_least(S * row * sizeof(__nv_bfloat16)));
  auto* v16 = static_cast<__nv_bfloat16*>(st.v16.at_least(S * row * sizeof(__nv_bfloat16)));
  auto* o16 = static_cast<__nv_bfloat16*>(st.o16.at_least(Lq * row * sizeof(__nv_bfloat16)));
  const size_t workspace_bytes = static_cast<size_t>(plan->workspace_bytes);
  void* workspace = workspace_bytes > 0 ? st.workspace.at_least(workspace_bytes) : nullptr;
  to_bf16(q.f32(), q16, Lq * row);
  int64_t at = 0;
  for (const KVSegment& s : kv) {
    to_bf16(s.k, k16 + at * row, s.len * row);
    to_bf16(s.v, v16 + at * row, s.len * row);
    at += s.len;
  }

  float scale_value = scale;  // read by cudnnBackendExecute
  const int64_t uids[5] = {kUidQ, kUidK, kUidV, kUidO, kUidScale};
  void* pointers[5] = {q16, k16, v16, o16, &scale_value};
  Descriptor pack;
  WL_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack.d));
  WL_CUDNN_CHECK(cudnnBackendSetAttribute(pack.d, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 5, uids));
  WL_CUDNN_CHECK(
      cudnnBackendSetAttribute(pack.d, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 5, pointers));
  WL_CUDNN_CHECK(
      cudnnBackendSetAttribute(pack.d, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace));
  WL_CUDNN_CHECK(cudnnBackendFinalize(pack.d));
  const cudnnStatus_t status = cudnnBackendExecute(h, plan->plan.d, pack.d);
  if (status != CUDNN_STATUS_SUCCESS) {  // a plan that builds but does not run: declined from now on
    log_once(st, "cuDNN SDPA could not run attention Lq=" + std::to_string(Lq) + " S=" + std::to_string(S) +
                     " H=" + std::to_string(H) + " d=" + std::to_string(d) + " (" + cudnnGetErrorString(status) + ")");
    found->second.reset();
    return false;
  }

  to_f32(o16, out.f32(), Lq * row);
  return true;
}

}  // namespace wl::cuda
