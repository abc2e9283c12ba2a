#!/usr/bin/env bash
# Issue 19's finding, recorded: eager vs compiled (LibTorch and PyTorch) at batch 1 and 16, run
# with the libraries' default thread pools (plan thread_hygiene = false: what fwbench did up to
# f85ffe2) and with one compute pool per trial (the default since), back to back on one machine,
# on all usable cores (--threads 0: at fwbench's default of 1 thread there are no pools to fight).
# Prints each run's latency table and compile gains, then `fwbench compare` of the two runs
# (ratios with 95% CIs). Figures go to docs/performance.md by hand, with the machine's name.
#   bench/thread_hygiene.sh [OUT_DIR] [extra fwbench run flags…]   (about 15 min on 2 cores)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/build/bench-thread-hygiene}"
shift || true
backends="libtorch,libtorch/compiled,pytorch/eager,pytorch/compiled"
runs=()
for hygiene in false true; do
  echo "== thread_hygiene = $hygiene"
  log="$out/hygiene-$hygiene.log"
  mkdir -p "$out"
  "$here/build/fwbench" run --name "hygiene-$hygiene" --backends "$backends" --tasks infer \
    --batch-sizes 1,16 --trials 5 --threads 0 --thread-hygiene "$hygiene" --out "$out" "$@" |
    tee "$log" |
    sed -n '/^inference /,/^$/p;/^compiled vs eager/,/^$/p;/^warning/p'
  runs+=("$(sed -n 's/^results: \(.*\)\/results.json$/\1/p' "$log")")
done
echo "== hygiene off → on"
"$here/build/fwbench" compare "${runs[0]}" "${runs[1]}"
