#!/usr/bin/env bash
# fwbench serve under abuse, then under a soak (issue 17): one server, a small TorchScript model
# (Linear(4, 2), written by Debian's python3-torch), and in this order
#   1. a soak: SOAK requests at concurrency 64 (fwbench load, KServe v2 JSON), errors counted;
#   2. the abuse of issue 17 over raw sockets: bodies nested 30,000 '[' deep (KServe, TF Serving,
#      TorchServe) and a 300,000-deep object, Transfer-Encoding smuggling, HTTP/1.1 without
#      Host, two 60 MB JSON bodies at once while /v2/health/live is probed;
#   3. the same soak again.
# The server's RSS (VmRSS) after start, after each step; every abuse answer checked.
# ROUNDS rounds of abuse (default 2): memory a round keeps for good would show as growth.
#   bench/serve_abuse_soak.sh [SOAK=10000] [ROUNDS=2]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/bench/serve_ready.sh"
FWBENCH="$ROOT/build/fwbench"
SOAK="${1:-10000}"; ROUNDS="${2:-2}"
[ -x "$FWBENCH" ] || { echo "$FWBENCH is missing: build first (cmake --build build)"; exit 1; }
WORK="$(mktemp -d)"; SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/repo/linear/1"
/usr/bin/python3 - "$WORK/repo/linear/1/model.pt" <<'EOF'
import sys, torch
torch.jit.trace(torch.nn.Linear(4, 2), torch.zeros(1, 4)).save(sys.argv[1])
EOF
cat > "$WORK/repo/linear/config.toml" <<'EOF'
[[inputs]]
name = "x"
datatype = "FP32"
shape = [-1, 4]

[[outputs]]
name = "y"
datatype = "FP32"
shape = [-1, 2]
EOF
"$FWBENCH" serve "$WORK/repo" --port 0 --port-file "$WORK/port" 2>"$WORK/serve.log" &
SERVER=$!
PORT="$(wait_until_ready "$WORK/port" 60 "$WORK/serve.log")"
rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$SERVER/status"; }
echo "server pid $SERVER on port $PORT; RSS after start: $(rss)"

soak() {
  "$FWBENCH" load "http://127.0.0.1:$PORT" --protocol kserve --model linear -c 64 \
    --requests "$SOAK" --duration 600 --warmup 0 --quiet --json "$WORK/soak.json" >/dev/null || true
  /usr/bin/python3 - "$WORK/soak.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print(f"{s['requests']} requests, {s['ok']} ok, errors {s['errors'] or 0}, "
      f"{s['achieved_per_s']:.0f}/s, p99 {s['latency_ms']['p99']:.2f} ms, valid {s['valid']}")
EOF
}
echo "soak before abuse: $(soak); RSS $(rss)"

for round in $(seq "$ROUNDS"); do
echo "abuse, round $round:"
/usr/bin/python3 - "$PORT" <<'EOF'
import socket, sys, threading, time
port = int(sys.argv[1])

def exchange(raw, timeout=60):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw)
    answer = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        answer += chunk
    s.close()
    return answer.decode("latin-1")

def post(target, body):
    return exchange(f"POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

deep = b"[" * 30000 + b"1" + b"]" * 30000
obj = b'{"a":' * 300000 + b"1" + b"}" * 300000
cases = {
    "KServe data 30,000 deep": post("/v2/models/linear/infer",
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":' + deep + b"}]}"),
    "TF Serving instances 30,000 deep": post("/v1/models/linear:predict", b'{"instances":' + deep + b"}"),
    "TorchServe body 30,000 deep": post("/predictions/linear", deep),
    "object 300,000 deep": post("/v2/models/linear/infer",
        b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,' + obj + b"]}]}"),
}
for te in ("gzip", "identity", "chunked, gzip"):
    cases[f"Transfer-Encoding: {te} + smuggled GET"] = exchange(
        f"POST /v2/models/linear/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n"
        "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n".encode())
cases["HTTP/1.1 without Host"] = exchange(b"GET /v2/health/live HTTP/1.1\r\n\r\n")
for name, answer in cases.items():
    status = answer.split("\r\n", 1)[0]
    ok = status.startswith("HTTP/1.1 400") and answer.count("Server: fwbench") == 1
    print(f"  {name}: {status} ({'ok' if ok else 'UNEXPECTED'})")
    if not ok:
        sys.exit(f"unexpected answer: {answer[:300]}")

body = (b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":['
        + b"1.25," * (12 * 1024 * 1024) + b"1]}]}")
answers = []
def big():
    answers.append(post("/v2/models/linear/infer", body).split("\r\n", 1)[0])
threads = [threading.Thread(target=big) for _ in range(2)]
for t in threads:
    t.start()
probes = []
while any(t.is_alive() for t in threads):
    t0 = time.perf_counter()
    exchange(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    probes.append((time.perf_counter() - t0) * 1000)
for t in threads:
    t.join()
probes.sort()
print(f"  two {len(body) / 1e6:.0f} MB JSON bodies at once: {answers}; {len(probes)} health probes "
      f"meanwhile, median {probes[len(probes) // 2]:.2f} ms, slowest {probes[-1]:.2f} ms")
EOF
echo "RSS after abuse round $round: $(rss)"
done
echo "soak after abuse: $(soak); RSS $(rss)"
kill -TERM "$SERVER"; wait "$SERVER"; echo "server exit code after SIGTERM: $?"; SERVER=""
