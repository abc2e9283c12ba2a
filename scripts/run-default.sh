#!/usr/bin/env bash
# First README command: install what is missing, build, run the embedded default plan.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
FWBENCH_TARGET=fwbench ./scripts/build.sh
exec ./build/fwbench run "$@"
