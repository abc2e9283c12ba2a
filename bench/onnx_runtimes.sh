#!/usr/bin/env bash
# The ONNX runtimes behind fwbench serve on one file, in one server (issue 22): the same
# ResNet-18 (torchvision, imagenet stem, seeded weights) at 224² exported to ONNX, served twice —
# onnx_runtime = "openvino" (OpenVINO's CPU plugin at FP32) and "opencv" (OpenCV DNN 4.6) —
# and measured by fwbench load with binary tensors at 1 connection, batching off, the order
# alternating per round. Prints per round each runtime's p50 and OpenCV DNN's over OpenVINO's,
# and checks that both answer the same logits.
#
#   bench/onnx_runtimes.sh [ROUNDS=3] [SECONDS=5]
# Environment: THREADS (fwbench serve --threads, default 2).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/bench/serve_ready.sh"
FWBENCH="$ROOT/build/fwbench"
ROUNDS="${1:-3}"; SECS="${2:-5}"; THREADS="${THREADS:-2}"
[ -x "$FWBENCH" ] || { echo "$FWBENCH is missing: build first (cmake --build build)"; exit 1; }
WORK="$(mktemp -d)"; SERVER=""
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/repo/ov/1" "$WORK/repo/cv/1"
# OpenCV 4.6 cannot import an Identity node whose input is an initializer (torch.onnx.export
# writes some): they are folded away first, which changes nothing the model computes.
/usr/bin/python3 - "$WORK" <<'PY'
import sys, onnx, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet18().eval()
path = sys.argv[1] + "/r18.onnx"
torch.onnx.export(m, torch.zeros(1, 3, 224, 224), path, input_names=["input"],
                  output_names=["logits"], dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}},
                  opset_version=13)
g = onnx.load(path)
inits = {i.name for i in g.graph.initializer}
alias = {n.output[0]: n.input[0] for n in g.graph.node
         if n.op_type == "Identity" and n.input[0] in inits}
kept = [n for n in g.graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
for n in kept:
    for i, x in enumerate(n.input):
        n.input[i] = alias.get(x, x)
del g.graph.node[:]
g.graph.node.extend(kept)
onnx.save(g, path)
PY
cp "$WORK/r18.onnx" "$WORK/repo/ov/1/model.onnx"; cp "$WORK/r18.onnx" "$WORK/repo/cv/1/model.onnx"
SIG='[[inputs]]\nname="input"\ndatatype="FP32"\nshape=[-1,3,224,224]\n[[outputs]]\nname="logits"\ndatatype="FP32"\nshape=[-1,1000]\n[batching]\nmax_batch_size=1\n'
printf "platform=\"onnx\"\nonnx_runtime=\"openvino\"\n$SIG" >"$WORK/repo/ov/config.toml"
printf "platform=\"onnx\"\nonnx_runtime=\"opencv\"\n$SIG" >"$WORK/repo/cv/config.toml"
"$FWBENCH" serve "$WORK/repo" --port 0 --port-file "$WORK/port" --threads "$THREADS" 2>"$WORK/serve.log" &
SERVER=$!
URL="http://127.0.0.1:$(wait_until_ready "$WORK/port" 30 "$WORK/serve.log")"
grep "runs on OpenVINO" "$WORK/serve.log" || true
p50() {
  "$FWBENCH" load "$URL" --protocol kserve --binary --model "$1" -c 1 --duration "$SECS" --warmup 1 -q |
    awk '/^latency/ {for (i = 1; i <= NF; ++i) if ($i == "p50") print $(i + 1)}'
}
/usr/bin/python3 - "$URL" <<'PY'
import json, sys, urllib.request
body = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32",
                               "data": [((i * 7919) % 255) / 255.0 for i in range(3 * 224 * 224)]}]})
out = {}
for m in ("ov", "cv"):
    r = urllib.request.urlopen(urllib.request.Request(f"{sys.argv[1]}/v2/models/{m}/infer",
                               data=body.encode(), headers={"Content-Type": "application/json"}))
    out[m] = json.load(r)["outputs"][0]["data"]
print("max |logit OpenVINO - logit OpenCV DNN|:",
      max(abs(a - b) for a, b in zip(out["ov"], out["cv"])))
PY
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then ov=$(p50 ov); cv=$(p50 cv); else cv=$(p50 cv); ov=$(p50 ov); fi
  echo "round $r: OpenVINO p50 $ov ms | OpenCV DNN p50 $cv ms | OpenCV DNN / OpenVINO $(awk -v a="$cv" -v b="$ov" 'BEGIN {printf "%.2f", a / b}')"
done
