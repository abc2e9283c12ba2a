#!/usr/bin/env bash
# LibTorch (C++) vs the PyTorch (Python) worker on the LLM LoRA workload, side by side in one run
# per shape: the tiny preset and the ~125M shape (examples/llm-lora-*.toml). Prints each run's
# tokens table (tokens/s, MFU, time to first token, prefill and decode rates, 95% CIs) and the
# parity of the first losses. Figures go to docs/llm.md by hand, with the machine they came from.
#   bench/llm_cpp_vs_python.sh [OUT_DIR] [extra fwbench run flags…]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/build/bench-llm}"
shift || true
for plan in llm-lora-tiny llm-lora-125m; do
  echo "== $plan"
  "$here/build/fwbench" run "$here/examples/$plan.toml" --backends libtorch,pytorch \
    --out "$out" --no-report "$@" | sed -n '/^training/,$p'
done
