#!/usr/bin/env bash
# fwbench serve (dynamic batching on and off) vs the FastAPI + uvicorn + PyTorch baseline on a
# ResNet-50 TorchScript at 224×224, side by side in one `fwbench deploy` run: time to ready, time
# to the first prediction, closed-loop throughput and the highest rate whose p99 stays under the
# bound. Figures recorded in docs/serve.md.
#   bench/deploy_resnet50.sh [OUT=/tmp/fwbench-deploy-resnet50] [P99_MS=2000]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-/tmp/fwbench-deploy-resnet50}"
P99="${2:-2000}"
"$ROOT/build/fwbench" deploy --model resnet50 --stem imagenet --image-size 224 \
  --p99-ms "$P99" --duration 10 --warmup 3 --connections 4 --start-rate 1 --bisection-steps 3 \
  --max-batch-size 4 --max-queue-delay-us 20000 --out "$OUT"
