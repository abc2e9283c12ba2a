#!/usr/bin/env bash
# Second README command: install what is missing, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --test
./scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 600
