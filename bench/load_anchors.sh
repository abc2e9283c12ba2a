#!/usr/bin/env bash
# fwbench load beside the load generators users already trust, against the same fwbench serve
# endpoint in one run (issue 22): a KServe v2 JSON infer of a Linear(4, 2) TorchScript model,
# batching off, the same body from every tool.
#   closed loop  fwbench load -c C  vs  wrk -c C (Debian; a Lua script posts the body)
#   open loop    fwbench load --rate R  vs  vegeta attack -rate R (github.com/tsenart/vegeta/v12
#                v12.13.0, installed by `go install` into .cache/go/bin on first use)
#   gRPC         fwbench load --grpc -c C  vs  ghz -c C --connections C (github.com/bojand/ghz
#                v0.93.0, go install as vegeta), KServe v2 ModelInfer with the same 16 raw bytes
#                on the server's gRPC port (fwbench serve --grpc-port)
# Each pair runs ROUNDS times, the order alternating; per round: achieved requests/s, p50 and p99
# as each tool reports them, and fwbench's over the other's.
#
#   bench/load_anchors.sh [ROUNDS=3] [SECONDS=5]
# Environment: CONNECTIONS (closed loop, default 8), RATE (open loop, default 500/s),
# SERVER_THREADS (fwbench serve --http-threads, default 1), PIN=1 (default: server on CPU 0, the
# tools on CPU 1).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/bench/serve_ready.sh"
FWBENCH="$ROOT/build/fwbench"
ROUNDS="${1:-3}"; SECS="${2:-5}"
CONNS="${CONNECTIONS:-8}"; RATE="${RATE:-500}"; SERVER_THREADS="${SERVER_THREADS:-1}"
PIN="${PIN:-1}"
if [ "$PIN" = 1 ]; then PIN_SERVER="taskset -c 0"; PIN_TOOL="taskset -c 1"; else PIN_SERVER=""; PIN_TOOL=""; fi
VEGETA_VERSION=v12.13.0
GHZ_VERSION=v0.93.0
GOBIN_DIR="$ROOT/.cache/go/bin"
[ -x "$FWBENCH" ] || { echo "$FWBENCH is missing: build first (cmake --build build)"; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
if [ ! -x "$GOBIN_DIR/vegeta" ]; then
  command -v go >/dev/null || { echo "go is needed to install vegeta ($VEGETA_VERSION)"; exit 1; }
  echo "installing vegeta $VEGETA_VERSION into $GOBIN_DIR"
  GOBIN="$GOBIN_DIR" go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
fi
if [ ! -x "$GOBIN_DIR/ghz" ]; then
  command -v go >/dev/null || { echo "go is needed to install ghz ($GHZ_VERSION)"; exit 1; }
  echo "installing ghz $GHZ_VERSION into $GOBIN_DIR"
  GOBIN="$GOBIN_DIR" go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
fi
VEGETA="$GOBIN_DIR/vegeta"
GHZ="$GOBIN_DIR/ghz"
WORK="$(mktemp -d)"; SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/repo/lin/1"
/usr/bin/python3 -c "import torch; torch.jit.script(torch.nn.Linear(4, 2)).save('$WORK/repo/lin/1/model.pt')"
printf '[[inputs]]\nname="x"\ndatatype="FP32"\nshape=[-1,4]\n[[outputs]]\nname="y"\ndatatype="FP32"\nshape=[-1,2]\n[batching]\nmax_batch_size=1\n' \
  >"$WORK/repo/lin/config.toml"
BODY='{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[0.5,0.25,0.125,1]}]}'
printf '%s' "$BODY" >"$WORK/body.json"
printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' \
  "$BODY" >"$WORK/post.lua"
$PIN_SERVER "$FWBENCH" serve "$WORK/repo" --port 0 --port-file "$WORK/port" --threads 1 \
  --http-threads "$SERVER_THREADS" --grpc-port 0 --grpc-port-file "$WORK/grpc_port" \
  2>"$WORK/serve.log" &
SERVER=$!
PORT="$(wait_until_ready "$WORK/port" 30 "$WORK/serve.log")"
URL="http://127.0.0.1:$PORT/v2/models/lin/infer"
GRPC_TARGET="127.0.0.1:$(cat "$WORK/grpc_port")"
# [0.5, 0.25, 0.125, 1] as little-endian FP32, base64 (ghz reads bytes fields so).
GRPC_DATA='{"model_name":"lin","inputs":[{"name":"x","datatype":"FP32","shape":[1,4]}],"raw_input_contents":["AAAAPwAAgD4AAAA+AACAPw=="]}'

echo "== $URL: closed loop at $CONNS connections, open loop at $RATE/s, ${SECS}s each;" \
  "pinned: $PIN (server CPU 0, tools CPU 1)"

# "RATE P50_MS P99_MS" from each tool's own report.
fwbench_load() {
  $PIN_TOOL "$FWBENCH" load "$URL" --method POST --body "$WORK/body.json" \
    --header "Content-Type: application/json" --duration "$SECS" --warmup 1 -q "$@" |
    awk '/^rate/ {r = $3; gsub(/[^0-9.]/, "", r)} /^latency/ {for (i = 1; i <= NF; ++i) {
           if ($i == "p50") p50 = $(i + 1); if ($i == "p99") p99 = $(i + 1)}}
         END {print r, p50, p99}'
}
wrk_run() {
  $PIN_TOOL wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/post.lua" "$URL" |
    awk 'function ms(v) {if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; return v * 1000}
         / 50% / {p50 = ms($2)} / 99% / {p99 = ms($2)} /Requests\/sec/ {r = $2}
         END {printf "%s %.3f %.3f\n", r, p50, p99}'
}
vegeta_run() {
  printf 'POST %s\nContent-Type: application/json\n@%s\n' "$URL" "$WORK/body.json" |
    $PIN_TOOL "$VEGETA" attack -rate "$RATE" -duration "${SECS}s" -max-workers 64 |
    "$VEGETA" report -type json |
    /usr/bin/python3 -c "import json, sys; r = json.load(sys.stdin); l = r['latencies'];
print(round(r['throughput'], 1), round(l['50th'] / 1e6, 3), round(l['99th'] / 1e6, 3))"
}
fwbench_grpc() {
  $PIN_TOOL "$FWBENCH" load "grpc://$GRPC_TARGET" --model lin --input x:FP32:1x4 \
    --duration "$SECS" --warmup 1 -q "$@" |
    awk '/^rate/ {r = $3; gsub(/[^0-9.]/, "", r)} /^latency/ {for (i = 1; i <= NF; ++i) {
           if ($i == "p50") p50 = $(i + 1); if ($i == "p99") p99 = $(i + 1)}}
         END {print r, p50, p99}'
}
# ghz has no warm-up: its first second is in its figures (fwbench's is left out).
ghz_run() {
  $PIN_TOOL "$GHZ" --insecure --proto "$ROOT/src/protocols/kserve_v2_grpc.proto" \
    --call inference.GRPCInferenceService.ModelInfer -d "$GRPC_DATA" -c "$CONNS" \
    --connections "$CONNS" -z "${SECS}s" --format json "$GRPC_TARGET" |
    /usr/bin/python3 -c "import json, sys; r = json.load(sys.stdin)
l = {d['percentage']: d['latency'] / 1e6 for d in r['latencyDistribution']}
print(round(r['rps'], 1), round(l[50], 3), round(l[99], 3))"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then f=$(fwbench_load -c "$CONNS"); w=$(wrk_run); else w=$(wrk_run); f=$(fwbench_load -c "$CONNS"); fi
  read -r fr fp50 fp99 <<<"$f"; read -r wr wp50 wp99 <<<"$w"
  echo "closed round $r: fwbench load $fr/s p50 $fp50 p99 $fp99 ms | wrk $wr/s p50 $wp50 p99 $wp99 ms | rate ratio $(ratio "$fr" "$wr")"
done
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then f=$(fwbench_load -c "$CONNS" --rate "$RATE"); v=$(vegeta_run); else v=$(vegeta_run); f=$(fwbench_load -c "$CONNS" --rate "$RATE"); fi
  read -r fr fp50 fp99 <<<"$f"; read -r vr vp50 vp99 <<<"$v"
  echo "open round $r at $RATE/s: fwbench load $fr/s p50 $fp50 p99 $fp99 ms | vegeta $vr/s p50 $vp50 p99 $vp99 ms | p50 ratio $(ratio "$fp50" "$vp50")"
done
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then f=$(fwbench_grpc -c "$CONNS"); g=$(ghz_run); else g=$(ghz_run); f=$(fwbench_grpc -c "$CONNS"); fi
  read -r fr fp50 fp99 <<<"$f"; read -r gr gp50 gp99 <<<"$g"
  echo "gRPC round $r: fwbench load --grpc $fr/s p50 $fp50 p99 $fp99 ms | ghz $gr/s p50 $gp50 p99 $gp99 ms | rate ratio $(ratio "$fr" "$gr")"
done
