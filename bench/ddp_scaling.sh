#!/usr/bin/env bash
# Data-parallel scaling (task train_ddp, docs/scale-out.md): every framework that runs here on
# 1 and 2 processes on one host, and on 2 processes on 2 hosts (network namespaces joined by a
# veth link; needs root), 1 compute thread per process, the same batch per process, side by side
# in one run. Prints the scaling table (efficiency = step time on 1 process / step time on N,
# with 95% CIs over the trial processes) and the parity gate's verdict per configuration.
# Figures go to docs/scale-out.md by hand, with the machine's name.
#   bench/ddp_scaling.sh [OUT_DIR] [extra fwbench run flags…]   (about 20 min on 2 cores)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/build/bench-ddp-scaling}"
shift || true
hosts=1,2
if [ "$(id -u)" -ne 0 ]; then
  echo "not root: one host only (two hosts are network namespaces)" >&2
  hosts=1
fi
mkdir -p "$out"
log="$out/ddp-scaling.log"
# The quick plan's model (ResNet-18, ImageNet stem: 32x32 images are 8x8 after it, so a step is
# ~0.1 s and the all-reduce of its 11.2 M gradients weighs as much as on a larger model with
# more compute per step); add e.g. --stem cifar for 16x more compute per step. lr 0.0005 keeps
# the parity gate's rounding envelope informative over its 20 losses on 2 processes (at 0.01 a
# one-ulp change moved the two-process reference's loss by >10% from step 3; docs/parity.md).
"$here/build/fwbench" run --quick --name ddp-scaling \
  --backends libtorch,pytorch,tensorflow/eager,tensorflow/function,jax \
  --tasks train_ddp --ddp-processes 1,2 --ddp-hosts "$hosts" --lr 0.0005 --trials 5 \
  --warmup-trials 1 --out "$out" "$@" |
  tee "$log" |
  sed -n '/^data-parallel scaling/,/^$/p;/^training parity/,/^$/p;/^warning/p;/^failed/,/^$/p'
