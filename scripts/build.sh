#!/usr/bin/env bash
# Configures and builds fwbench into build/ (Release, -O2). Extra arguments go to CMake's
# configure step, e.g. -DTorch_DIR=/path/to/libtorch/share/cmake/Torch. FWBENCH_TARGET=fwbench
# builds only the CLI (what run-default.sh needs), skipping tests and benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
if [ -n "${FWBENCH_TARGET:-}" ]; then
  cmake --build build -j "$(nproc)" --target "$FWBENCH_TARGET"
else
  cmake --build build -j "$(nproc)"
fi
