#!/usr/bin/env bash
# Builds the request-parser fuzz targets with clang + libFuzzer (ASan, UBSan) in BUILD_DIR and runs
# each for SECONDS seconds from the seed corpus in fuzz/corpus. Exit 77 (skipped) when clang or
# libFuzzer is missing; non-zero when a target crashes, with the reproducer left in BUILD_DIR.
# -max_len reaches past the JSON nesting bound (core/bounded_json.h: 64 levels, ~65 bytes).
#   scripts/fuzz.sh [BUILD_DIR=build/fuzz] [SECONDS=20]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build/fuzz}"
SECONDS_EACH="${2:-20}"
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: clang++ is not installed (scripts/install-deps.sh --test installs clang and libclang-rt-14-dev)"
  exit 77
fi
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 &&
   ! ls /usr/lib/llvm-*/lib/clang/*/lib/x86_64-*/libclang_rt.fuzzer.a >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: libFuzzer is not installed (apt-get install libclang-rt-14-dev: clang's runtime libraries, libFuzzer among them)"
  exit 77
fi
cmake -S "$ROOT/fuzz" -B "$BUILD" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
status=0
for target in kserve_request tfserving_request routes npy; do
  corpus="$BUILD/corpus/$target"
  mkdir -p "$corpus"
  cp -n "$ROOT/fuzz/corpus/$target/"* "$corpus/" 2>/dev/null || true
  echo "fuzz: $target for ${SECONDS_EACH}s"
  if ! (cd "$BUILD" && "./fuzz_$target" -max_total_time="$SECONDS_EACH" -max_len=8192 \
          -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$corpus" 2>"$BUILD/$target.log"); then
    echo "fuzz: $target FAILED; log: $BUILD/$target.log (crash input: $BUILD/crash-*)"
    grep -E "^(==|SUMMARY|    #1[0-9] |terminate|  what)" "$BUILD/$target.log" | head -20
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$BUILD/$target.log" | tail -2 | sed "s/^/fuzz: $target: /"
  fi
done
exit $status
