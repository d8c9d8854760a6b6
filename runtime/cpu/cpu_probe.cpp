// Configure-time probe (CMakeLists.txt, try_run): prints the instruction sets
// of the build machine that runtime/cpu's per-ISA kernels need.
#include <cstdio>

int main() {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  std::printf("%s%s", avx2 ? "avx2" : "no-avx2", avx512 ? " avx512" : "");
  return 0;
}
