#!/usr/bin/env bash
# Configures and builds fwbench into build/ (Release with debug info). Extra arguments go to
# CMake's configure step, e.g. -DTorch_DIR=/path/to/libtorch/share/cmake/Torch.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build build -j "$(nproc)"
