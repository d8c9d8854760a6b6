// What the processor under the CPU backend can do, asked once.
//
// oneDNN's effective ISA is the one source of truth: it already honours
// DNNL_MAX_CPU_ISA (set it to AVX2 on an AMX machine and both oneDNN and
// worldloop's own kernels take the AVX2 path), so a capped run exercises the
// same code an AVX2-only processor runs.
#pragma once
#include <string>

namespace wl::cpu {

// oneDNN's effective ISA, spelled like DNNL_MAX_CPU_ISA in lower case:
// "sse41", "avx2", "avx512_core", "avx512_core_bf16", "avx512_core_amx", ...
const char* onednn_isa_name();

// True when oneDNN's effective ISA has bf16 dot products (AVX-512-BF16, AMX).
// Without them a BF16 product is emulated: operands rounded to bf16, products
// accumulated in f32 by the f32 kernels (the same numbers, slower).
bool native_bf16();

// Which build of worldloop's own vector kernels (attention) runs: the widest
// that was compiled in, that the processor has, and that oneDNN's cap allows.
enum class KernelIsa { Portable, Avx2, Avx512 };
KernelIsa kernel_isa();
const char* kernel_isa_name(KernelIsa isa);  // "portable", "avx2", "avx512"

// The compiler's base target for the rest of the code: "native" or "x86-64-v2".
const char* build_arch();

}  // namespace wl::cpu
