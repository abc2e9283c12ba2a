#!/usr/bin/env bash
# fwbench serve beside the servers a team would otherwise pick, in one `fwbench deploy` run on the
# same TorchScript file, the same compute threads and the same load (issue 22): TorchServe 0.12
# (fwbench's tensor handler, batching as fwbench serve's) and FastAPI + uvicorn (no batching, as
# such apps are written). Prints each server's highest open-loop rate whose p99 stays under the
# bound, its closed-loop rate, p50 and p99, and peak memory, then fwbench serve's ratios to each.
#
#   bench/serve_vs_peers.sh [P99_MS=200] [SECONDS=8]
# Environment: MODEL (default resnet18), STEM (imagenet), SIZE (224), THREADS (compute threads of
# every server, default 2), CONNECTIONS (closed loop, default 8).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FWBENCH="$ROOT/build/fwbench"
P99="${1:-200}"; SECS="${2:-8}"
MODEL="${MODEL:-resnet18}"; STEM="${STEM:-imagenet}"; SIZE="${SIZE:-224}"
THREADS="${THREADS:-2}"; CONNS="${CONNECTIONS:-8}"
[ -x "$FWBENCH" ] || { echo "$FWBENCH is missing: build first (cmake --build build)"; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "== fwbench deploy: $MODEL $STEM ${SIZE}², $THREADS compute threads per server, p99 bound $P99 ms, ${SECS}s per load test"
"$FWBENCH" deploy --model "$MODEL" --stem "$STEM" --image-size "$SIZE" --batching on \
  --baseline fastapi,torchserve --serve-threads "$THREADS" --connections "$CONNS" \
  --p99-ms "$P99" --duration "$SECS" --warmup 2 --start-rate 4 --bisection-steps 3 \
  --out "$WORK" 2>"$WORK/deploy.log" | sed -n '/^server/,/^(closed/p'
DEPLOY_JSON="$(ls "$WORK"/*-deploy/deploy.json)"
/usr/bin/python3 - "$DEPLOY_JSON" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = {s["name"]: s for s in d["servers"] if "max_rate_per_s" in s}
ours = rows.get("fwbench serve (batching)")
if ours is None:
    sys.exit("fwbench serve was not measured: " + json.dumps(d["servers"])[:500])
print(f"\nparity of first predictions: " + ", ".join(
    f"{n} {s.get('parity', {}).get('status')}" for n, s in rows.items()))
for peer in ("torchserve (batching)", "fastapi + uvicorn"):
    p = rows.get(peer)
    if p is None:
        print(f"{peer}: not measured")
        continue
    def r(a, b):
        return a / b if b else float("inf")
    c, pc = ours["closed_loop"], p["closed_loop"]
    print(f"fwbench serve / {peer}: rate at p99 <= {d['p99_bound_ms']:.0f} ms "
          f"{ours['max_rate_per_s']:.1f} / {p['max_rate_per_s']:.1f} = "
          f"{r(ours['max_rate_per_s'], p['max_rate_per_s']):.2f}x; closed loop "
          f"{c['achieved_per_s']:.1f} / {pc['achieved_per_s']:.1f} req/s = "
          f"{r(c['achieved_per_s'], pc['achieved_per_s']):.2f}x, p50 {c['p50_ms']:.1f} vs "
          f"{pc['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} vs {pc['p99_ms']:.1f} ms; peak memory "
          f"{ours['peak_rss_bytes'] / 2**20:.0f} vs {p['peak_rss_bytes'] / 2**20:.0f} MiB")
PY
