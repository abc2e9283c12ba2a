#!/usr/bin/env bash
# fwbench load vs wrk (Debian) against the same trivial endpoint (fwbench serve's
# /v2/health/live), side by side: ROUNDS alternating runs of each with the same threads,
# connections and duration. Prints requests/s per round and the ratio fwbench/wrk (≥ 1.0 means
# the generator is at least as fast as wrk, i.e. it is not what limits a load test).
#   bench/load_vs_wrk.sh [ROUNDS=5] [SECONDS=5] [CONNECTIONS=16]
# Environment: THREADS (each tool, default 1), SERVER_THREADS (default 1), PIN=1 (default: the
# server on CPU 0, the tools on CPU 1; PIN=0 lets the scheduler place everything).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FWBENCH="$ROOT/build/fwbench"
ROUNDS="${1:-5}"; SECS="${2:-5}"; CONNS="${3:-16}"
THREADS="${THREADS:-1}"; SERVER_THREADS="${SERVER_THREADS:-1}"; PIN="${PIN:-1}"
if [ "$PIN" = 1 ]; then PIN_SERVER="taskset -c 0"; PIN_TOOL="taskset -c 1"; else PIN_SERVER=""; PIN_TOOL=""; fi
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
PY=/usr/bin/python3
WORK="$(mktemp -d)"; trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/repo/lin/1"
"$PY" -c "import torch; torch.jit.script(torch.nn.Linear(4, 2)).save('$WORK/repo/lin/1/model.pt')"
printf '[[inputs]]\nname="x"\ndatatype="FP32"\nshape=[-1,4]\n[[outputs]]\nname="y"\ndatatype="FP32"\nshape=[-1,2]\n' > "$WORK/repo/lin/config.toml"
$PIN_SERVER "$FWBENCH" serve "$WORK/repo" --port 0 --port-file "$WORK/port" --http-threads "$SERVER_THREADS" 2>"$WORK/serve.log" &
SERVER=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(cat "$WORK/port")/v2/health/live"
echo "endpoint $URL; fwbench serve on $SERVER_THREADS HTTP thread(s); each tool $THREADS thread(s), $CONNS connections, ${SECS}s; pinned: $PIN (server CPU 0, tool CPU 1)"
ratios=()
run_wrk() { $PIN_TOOL wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" "$URL" | awk '/Requests\/sec/ {print $2}'; }
run_fwbench() {
  $PIN_TOOL "$FWBENCH" load "$URL" -t "$THREADS" -c "$CONNS" --duration "$SECS" --warmup 0 -q |
    awk '/achieved/ {print $3}' | sed 's|/s||'
}
for r in $(seq "$ROUNDS"); do
  # Alternate which goes first, so a drift of the machine does not favour one of them.
  if [ $((r % 2)) = 1 ]; then w=$(run_wrk); f=$(run_fwbench); else f=$(run_fwbench); w=$(run_wrk); fi
  ratio=$(awk -v f="$f" -v w="$w" 'BEGIN {printf "%.3f", f / w}')
  ratios+=("$ratio")
  echo "round $r: wrk $w req/s, fwbench load $f req/s, ratio $ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print "median ratio fwbench/wrk: " a[int((NR+1)/2)] " (min " a[1] ", max " a[NR] ")"}'
