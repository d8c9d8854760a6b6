// `worldloop --version`: what was built and what this processor runs, so a
// bug report or a benchmark says which ISA and precision it came from.
#include <oneapi/dnnl/dnnl.hpp>

#include <omp.h>

#include "app/cli/commands.h"
#include "runtime/core/ops.h"

namespace wl::app {

std::string version_text() {
  const ops::CpuInfo cpu = ops::cpu_info();
  const ops::MatmulPrecision p = ops::best_matmul_precision();
  const dnnl_version_t* v = dnnl_version();
  std::string s = "worldloop (built " __DATE__ ")\n";
  s += "build: base target " + cpu.build_arch + ", kernels built for:";
#if WL_KERNELS_AVX2
  s += " avx2";
#endif
#if WL_KERNELS_AVX512
  s += " avx512";
#endif
  s += " portable\n";
  s += "cpu: oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
       " isa " + cpu.onednn_isa + ", kernels " + cpu.kernels + ", bf16 " +
       (cpu.native_bf16 ? "native" : "emulated in f32") + ", " + std::to_string(omp_get_max_threads()) +
       " threads\n";
  s += std::string("precision: ") + ops::precision_name(p) + " (auto; --precision or WORLDLOOP_MATMUL overrides)\n";
  s += std::string("cuda: ") +
       (ops::backend_available(Backend::CUDA) ? "available" : ops::backend_unavailable_reason(Backend::CUDA)) + "\n";
  return s;
}

}  // namespace wl::app
