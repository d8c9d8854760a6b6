#include "runtime/cpu/cpu_isa.h"

#include <oneapi/dnnl/dnnl.hpp>

#include "runtime/cpu/attention_kernels.h"

namespace wl::cpu {
namespace {

dnnl::cpu_isa effective_isa() {
  static const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa;
}

bool onednn_allows_avx512() {
  switch (effective_isa()) {
    case dnnl::cpu_isa::avx512_core:
    case dnnl::cpu_isa::avx512_core_vnni:
    case dnnl::cpu_isa::avx512_core_bf16:
    case dnnl::cpu_isa::avx512_core_amx:
      return true;
    default:
      return false;
  }
}

bool onednn_allows_avx2() {
  switch (effective_isa()) {
    case dnnl::cpu_isa::avx2:
    case dnnl::cpu_isa::avx2_vnni:
      return true;
    default:
      return onednn_allows_avx512();
  }
}

}  // namespace

const char* onednn_isa_name() {
  switch (effective_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
  }
}

bool native_bf16() {
  const dnnl::cpu_isa isa = effective_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

KernelIsa kernel_isa() {
  static const KernelIsa isa = [] {
    __builtin_cpu_init();
    if (kAttentionAvx512Built && onednn_allows_avx512() && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
      return KernelIsa::Avx512;
    if (kAttentionAvx2Built && onednn_allows_avx2() && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
      return KernelIsa::Avx2;
    return KernelIsa::Portable;
  }();
  return isa;
}

const char* kernel_isa_name(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::Portable: return "portable";
    case KernelIsa::Avx2: return "avx2";
    case KernelIsa::Avx512: return "avx512";
  }
  return "?";
}

const char* build_arch() { return WL_BASE_ARCH[0] ? WL_BASE_ARCH : "compiler default"; }

}  // namespace wl::cpu
