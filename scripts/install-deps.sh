#!/usr/bin/env bash
# Installs what fwbench needs from Debian 12 packages and the npm registry (exact versions from
# each package-lock.json). Idempotent: packages that are already present are not fetched again,
# and apt-get update runs only when needed. `--test` adds what only the test suite needs:
# Debian's chromium (the report is opened in it), the browser test's npm packages, and clang with
# libFuzzer (libclang-rt-14-dev; Debian's libfuzzer-14-dev alone left the fuzz test skipped) for the
# request-parser fuzz targets.
set -euo pipefail
WITH_TEST_TOOLS=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST_TOOLS=1 ;;
    *) echo "install-deps: unknown argument $arg (expected --test or nothing)" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake pkg-config git
  libtorch-dev libopenblas0-pthread
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev libsentencepiece-dev
  libboost1.81-dev libopencv-dnn-dev wrk
  python3 python3-torch python3-torchvision python3-numpy python3-opencv python3-onnx
  python3-fastapi python3-uvicorn
)
# Node.js for the Node workers: Debian's nodejs/npm unless a node is already on PATH.
if ! command -v node >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi
if [ "$WITH_TEST_TOOLS" = 1 ]; then PACKAGES+=(chromium clang libclang-rt-14-dev); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages, exactly as pinned in each folder's package-lock.json. Install scripts stay off:
# onnxruntime-node's would download GPU binaries at install time; its CPU binaries are inside
# the npm package, and nothing else here needs one.
npm_ci() {
  local dir="$1"
  local stamp="$dir/node_modules/.fwbench-lock"
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    echo "install-deps: npm ci in $dir"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund)
    cp "$dir/package-lock.json" "$stamp"
  else
    echo "install-deps: $dir packages present"
  fi
}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
npm_ci "$ROOT/workers/node"  # the Node workers: ONNX Runtime, TensorFlow.js
npm_ci "$ROOT/tools/charts"  # the report's charts: Vega, Vega-Lite
if [ "$WITH_TEST_TOOLS" = 1 ]; then
  npm_ci "$ROOT/tests/browser"  # playwright-core, driving Debian's chromium
fi
