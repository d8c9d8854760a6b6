// make_kv_rows(): the rows of a KV store on the backend its config names.
#include "cache/kv_rows.h"

#include "cache/kv_store.h"
#include "runtime/core/error.h"
#include "runtime/core/ops.h"

namespace wl::cache {

std::unique_ptr<KvRows> make_cpu_kv_rows(const KvStoreConfig& config);
#ifdef WORLDLOOP_HAS_CUDA
std::unique_ptr<KvRows> make_cuda_kv_rows(const KvStoreConfig& config);
#endif

std::unique_ptr<KvRows> make_kv_rows(const KvStoreConfig& config) {
  if (config.backend == Backend::CPU) return make_cpu_kv_rows(config);
  if (!ops::backend_available(Backend::CUDA))
    throw Error("kv store: keys and values on CUDA were asked for, but " +
                ops::backend_unavailable_reason(Backend::CUDA));
#ifdef WORLDLOOP_HAS_CUDA
  return make_cuda_kv_rows(config);
#else
  throw Error("kv store: CUDA backend not built");
#endif
}

}  // namespace wl::cache
