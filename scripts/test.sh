#!/usr/bin/env bash
# Second README command: install what is missing, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --test
./scripts/build.sh
# Debian's libtorch-dev (1.13) stays a supported LibTorch: build the CLI against it and run both
# LibTorch modes once (the test suite itself runs on the LibTorch of .venvs/torch when present).
if [ "$(cmake -LA -N build 2>/dev/null | sed -n 's/^FWBENCH_LIBTORCH:STRING=//p')" != system ]; then
  # -O0 without debug info: this build is checked, not measured (RelWithDebInfo took 8 min here).
  cmake -S . -B build-system -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
    -DFWBENCH_LIBTORCH=system -DFWBENCH_BUILD_TESTS=OFF -DFWBENCH_BUILD_BENCH=OFF
  cmake --build build-system -j "$(nproc)" --target fwbench
  ./build-system/fwbench doctor | grep '^libtorch'
  ./build-system/fwbench run --quick --trials 1 --backends libtorch,libtorch/compiled \
    --tasks infer --batch-sizes 2 --no-report --out build-system/smoke
fi
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 600
