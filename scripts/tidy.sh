#!/usr/bin/env bash
# clang-tidy (.clang-tidy's checks) over every source file without LibTorch, with the compile
# commands of build/ (or the folder given). Exit 0 when no check fires; 77 when clang-tidy-14 is
# missing (scripts/install-deps.sh --test installs it). ctest runs it as Lint.ClangTidy.
set -euo pipefail
build="$(realpath -m "${1:-$(dirname "$0")/../build}")"
cd "$(dirname "$0")/.."
tidy="$(command -v clang-tidy-14 || true)"
if [ -z "$tidy" ]; then
  echo "clang-tidy-14 is not installed (scripts/install-deps.sh --test): skipped"
  exit 77
fi
if [ ! -f "$build/compile_commands.json" ]; then
  echo "$build/compile_commands.json is missing: configure the build first (scripts/build.sh)" >&2
  exit 2
fi
# LibTorch's headers take ~30 s a file to parse, and fwbench_torch's sources (backends/,
# models/, workloads/) are compiled with a precompiled header clang cannot read.
files=$(ls src/{core,data,analysis,orchestrate,report,serve,loadgen,deploy,pipeline,cli,tokenize}/*.cpp)
echo "clang-tidy on $(echo "$files" | wc -l) files, $(nproc) at a time"
echo "$files" | xargs -P "$(nproc)" -n 4 "$tidy" -p "$build" --quiet
echo "clang-tidy: no findings"
