#!/usr/bin/env bash
# The report of a real run on this machine, opened in Debian's Chromium: a tiny LibTorch +
# PyTorch run (eager and compiled, training and inference), then check_report.mjs checks the
# page's tables and charts and saves a screenshot as a test artifact.
#   report_in_chromium.sh FWBENCH_BINARY ARTIFACT_DIR
# Exit 77 (reported as skipped by CTest) with the reason when Chromium or the browser test's
# npm packages are not installed; scripts/test.sh installs both.
set -euo pipefail
fwbench="$1"
artifacts="$2"
here="$(cd "$(dirname "$0")" && pwd)"
chromium="${FWBENCH_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "SKIPPED: $chromium is not installed (scripts/install-deps.sh --test installs Debian's chromium)"
  exit 77
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "SKIPPED: $here/node_modules is missing (scripts/install-deps.sh --test runs npm ci there)"
  exit 77
fi
out="$(mktemp -d /tmp/fwbench-browser.XXXXXX)"
trap 'rm -rf "$out"' EXIT
"$fwbench" run --quick --trials 2 --train-batch-size 8 \
  --backends libtorch,libtorch/compiled,pytorch --out "$out"
run_dir="$(find "$out" -mindepth 1 -maxdepth 1 -type d ! -name cache | head -1)"
mkdir -p "$artifacts"
cp "$run_dir/report.html" "$artifacts/report.html"
node "$here/check_report.mjs" "$run_dir/report.html" "$artifacts/report-chromium.png"
