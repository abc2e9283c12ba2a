#!/usr/bin/env bash
# fwbench serve against the same model in-process, side by side in one run (issue 22): per model,
# ROUNDS rounds of [in-process, served with KServe v2 binary tensors, served with KServe v2 JSON],
# the order rotated each round so a drift of the machine favours none. In-process is
# build/bench/served_model_latency: the repository's model loaded by the server's own loader
# (LoadServedModel: the TorchScript inference path of libtorch/compiled trials), the same compute
# threads, one request at a time with no HTTP. Served: `fwbench load -c 1` (one connection, closed
# loop) against `fwbench serve --threads THREADS` with batching off. Prints p50 per round and the
# ratios served/in-process (≤ 1.1 binary, ≤ 1.25 JSON is the bar) with their median.
#
#   bench/serve_vs_inprocess.sh [ROUNDS=3] [SECONDS=8]
# Environment: MODELS (default "resnet50:imagenet:224 resnet18:imagenet:224", ARCH:STEM:SIZE),
# THREADS (compute threads of both sides, default 2).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/bench/serve_ready.sh"
FWBENCH="$ROOT/build/fwbench"
INPROC="$ROOT/build/bench/served_model_latency"
ROUNDS="${1:-3}"; SECS="${2:-8}"
MODELS="${MODELS:-resnet50:imagenet:224 resnet18:imagenet:224}"
THREADS="${THREADS:-2}"
for f in "$FWBENCH" "$INPROC"; do
  [ -x "$f" ] || { echo "$f is missing: build first (cmake --build build)"; exit 1; }
done
WORK="$(mktemp -d)"; SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT

p50_of_load() { awk '/^latency/ {for (i = 1; i <= NF; ++i) if ($i == "p50") print $(i + 1)}'; }

for spec in $MODELS; do
  IFS=: read -r arch stem size <<<"$spec"
  repo="$WORK/repo-$arch"; mkdir -p "$repo/$arch/1"
  printf 'name = "bench"\n[model]\narch = "%s"\nstem = "%s"\n' "$arch" "$stem" >"$WORK/plan.toml"
  echo "== $arch ($stem stem) at ${size}×${size}, batch 1, $THREADS compute threads: exporting"
  "$FWBENCH" export "$WORK/plan.toml" --to torchscript --file "$repo/$arch/1/model.pt" \
    --out "$WORK/export" >"$WORK/export.log" 2>&1 || { tail -20 "$WORK/export.log"; exit 1; }
  printf '[[inputs]]\nname = "input"\ndatatype = "FP32"\nshape = [-1, 3, %s, %s]\n[[outputs]]\nname = "logits"\ndatatype = "FP32"\nshape = [-1, 10]\n[batching]\nmax_batch_size = 1\n' \
    "$size" "$size" >"$repo/$arch/config.toml"
  rm -f "$WORK/port"
  "$FWBENCH" serve "$repo" --port 0 --port-file "$WORK/port" --threads "$THREADS" 2>"$WORK/serve.log" &
  SERVER=$!
  URL="http://127.0.0.1:$(wait_until_ready "$WORK/port" 60 "$WORK/serve.log")"
  grep -E "compute threads|runs " "$WORK/serve.log" | sed 's/^/   /'
  run_inproc() {
    "$INPROC" "$repo" "$arch" --threads "$THREADS" --iterations 200 --warmup 20 \
      --json "$WORK/inproc.json" >/dev/null 2>&1
    /usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['p50_ms'], 3))" "$WORK/inproc.json"
  }
  run_load() {
    "$FWBENCH" load "$URL" --protocol kserve --model "$arch" $1 -c 1 --duration "$SECS" \
      --warmup 2 -q | p50_of_load
  }
  rb=(); rj=()
  for r in $(seq "$ROUNDS"); do
    case $((r % 3)) in
      1) i=$(run_inproc); b=$(run_load --binary); j=$(run_load "");;
      2) b=$(run_load --binary); j=$(run_load ""); i=$(run_inproc);;
      0) j=$(run_load ""); i=$(run_inproc); b=$(run_load --binary);;
    esac
    ratio_b=$(awk -v s="$b" -v i="$i" 'BEGIN {printf "%.3f", s / i}')
    ratio_j=$(awk -v s="$j" -v i="$i" 'BEGIN {printf "%.3f", s / i}')
    rb+=("$ratio_b"); rj+=("$ratio_j")
    echo "round $r: p50 in-process $i ms, served binary $b ms (×$ratio_b), served JSON $j ms (×$ratio_j)"
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] " (min " a[1] ", max " a[NR] ")"}'; }
  echo "$arch: served/in-process p50, median over $ROUNDS rounds: binary $(median "${rb[@]}"), JSON $(median "${rj[@]}")"
  echo "   server's own histograms (mean per request, ms):"
  curl -s "$URL/metrics" | awk '/^fwbench_(decode|queue|compute|encode)_seconds_(sum|count)/ {
      split($1, a, "_seconds_"); k = a[1]; sub("fwbench_", "", k);
      if (a[2] ~ /^sum/) s[k] = $2; else c[k] = $2 }
    END { for (k in s) if (c[k] > 0) printf "   %s %.3f\n", k, 1000 * s[k] / c[k] }'
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
done
