#!/usr/bin/env bash
# fwbench load vs wrk (Debian), side by side: ROUNDS alternating runs of each with the same
# threads, connections and duration against the same trivial endpoint. Prints requests/s per
# round and the ratio fwbench/wrk (≥ 1.0: the generator drives at least as much load as wrk).
#
# Two endpoints, because a load generator can only be compared against one that is faster than
# both generators:
#   responder  build/bench/trivial_http_responder, a fixed 200 from one epoll loop (~5 µs per
#              request, nearly all of it the kernel's TCP): the generators are the bottleneck,
#              so the ratio compares the generators.
#   serve      fwbench serve's /v2/health/live (~13 µs per request): the server's core is ~99%
#              busy with either tool, so both measure the server and the ratio is ~1 by
#              construction; it shows that neither tool holds the server back.
#
#   bench/load_vs_wrk.sh [ROUNDS=5] [SECONDS=5] [CONNECTIONS=16]
# Environment: ENDPOINTS (default "responder serve"), THREADS (each tool, default 1),
# SERVER_THREADS (fwbench serve, default 1), PIN=1 (default: the endpoint on CPU 0, the tools on
# CPU 1; PIN=0 lets the scheduler place everything), SPIN_US (fwbench load --spin-us, default 0).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FWBENCH="$ROOT/build/fwbench"
RESPONDER="$ROOT/build/bench/trivial_http_responder"
ROUNDS="${1:-5}"; SECS="${2:-5}"; CONNS="${3:-16}"
ENDPOINTS="${ENDPOINTS:-responder serve}"
THREADS="${THREADS:-1}"; SERVER_THREADS="${SERVER_THREADS:-1}"; PIN="${PIN:-1}"; SPIN_US="${SPIN_US:-0}"
if [ "$PIN" = 1 ]; then PIN_SERVER="taskset -c 0"; PIN_TOOL="taskset -c 1"; else PIN_SERVER=""; PIN_TOOL=""; fi
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
[ -x "$FWBENCH" ] || { echo "$FWBENCH is missing: build first (cmake --build build)"; exit 1; }
PY=/usr/bin/python3
WORK="$(mktemp -d)"; SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT

start_endpoint() {
  rm -f "$WORK/port"
  case "$1" in
    responder)
      [ -x "$RESPONDER" ] || { echo "$RESPONDER is missing (FWBENCH_BUILD_BENCH=ON builds it)"; exit 1; }
      $PIN_SERVER "$RESPONDER" "$WORK/port" &
      SERVER=$!;;
    serve)
      mkdir -p "$WORK/repo/lin/1"
      "$PY" -c "import torch; torch.jit.script(torch.nn.Linear(4, 2)).save('$WORK/repo/lin/1/model.pt')"
      printf '[[inputs]]\nname="x"\ndatatype="FP32"\nshape=[-1,4]\n[[outputs]]\nname="y"\ndatatype="FP32"\nshape=[-1,2]\n' > "$WORK/repo/lin/config.toml"
      $PIN_SERVER "$FWBENCH" serve "$WORK/repo" --port 0 --port-file "$WORK/port" \
        --http-threads "$SERVER_THREADS" 2>"$WORK/serve.log" &
      SERVER=$!;;
    *) echo "unknown endpoint '$1' in ENDPOINTS (expected responder or serve)"; exit 2;;
  esac
  for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
  [ -s "$WORK/port" ] || { echo "the $1 endpoint did not start"; exit 1; }
  URL="http://127.0.0.1:$(cat "$WORK/port")/v2/health/live"
}

run_wrk() { $PIN_TOOL wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" "$URL" | awk '/Requests\/sec/ {print $2}'; }
run_fwbench() {
  $PIN_TOOL "$FWBENCH" load "$URL" -t "$THREADS" -c "$CONNS" --duration "$SECS" --warmup 0 \
    --spin-us "$SPIN_US" -q |
    awk '/achieved/ {print $3}' | sed 's|/s||'
}

for endpoint in $ENDPOINTS; do
  start_endpoint "$endpoint"
  echo "== $endpoint: $URL; each tool $THREADS thread(s), $CONNS connections, ${SECS}s;" \
    "pinned: $PIN (endpoint CPU 0, tool CPU 1); fwbench --spin-us $SPIN_US"
  ratios=()
  for r in $(seq "$ROUNDS"); do
    # Alternate which goes first, so a drift of the machine does not favour one of them.
    if [ $((r % 2)) = 1 ]; then w=$(run_wrk); f=$(run_fwbench); else f=$(run_fwbench); w=$(run_wrk); fi
    ratio=$(awk -v f="$f" -v w="$w" 'BEGIN {printf "%.3f", f / w}')
    ratios+=("$ratio")
    echo "round $r: wrk $w req/s, fwbench load $f req/s, ratio $ratio"
  done
  printf '%s\n' "${ratios[@]}" | sort -n | awk -v e="$endpoint" '{a[NR]=$1} END {
    print e ": median ratio fwbench/wrk " a[int((NR+1)/2)] " (min " a[1] ", max " a[NR] ")"}'
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
done
