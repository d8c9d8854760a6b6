#!/bin/sh
# Runs the test binary "$@" with oneDNN capped to AVX2 (the environment comes
# from ctest), or skips (exit 77) where the processor has no AVX-512: there the
# main suite already runs oneDNN's and worldloop's AVX2 kernels, and running it
# a second time would prove nothing new.
if ! grep -q -m1 '\<avx512f\>' /proc/cpuinfo; then
  echo "SKIP: this processor has no AVX-512, so the main suite already ran the AVX2 path"
  exit 77
fi
exec "$@"
