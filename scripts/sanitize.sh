#!/usr/bin/env bash
# Builds the LibTorch-free test programs with AddressSanitizer + UBSan into build-asan/ and runs
# them (the orchestrator, protocol, statistics, data and safetensors code). Not part of CI's
# time budget; run it after changing those layers.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFWBENCH_SANITIZE=address,undefined \
  -DFWBENCH_BUILD_BENCH=OFF
cmake --build build-asan -j "$(nproc)" --target test_core test_data test_analysis test_orchestrate
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in test_core test_data test_analysis test_orchestrate; do
  ./build-asan/tests/$t --gtest_brief=1
done
