#!/usr/bin/env bash
# Installs what fwbench needs from Debian 12 packages. Idempotent: packages that are
# already present are not fetched again, and apt-get update runs only when needed.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libtorch-dev libopenblas0-pthread
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  python3 python3-torch python3-torchvision python3-numpy python3-opencv python3-onnx
)
# Node.js for the Node workers: Debian's nodejs/npm unless a node is already on PATH.
if ! command -v node >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

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

# The Node workers' packages, exactly as pinned in workers/node/package-lock.json. Install
# scripts stay off: onnxruntime-node's would download GPU binaries from the network at install
# time; its CPU binaries are inside the npm package.
cd "$(dirname "$0")/../workers/node"
stamp=node_modules/.fwbench-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "install-deps: npm ci in workers/node"
  npm ci --ignore-scripts --no-audit --no-fund
  cp package-lock.json "$stamp"
else
  echo "install-deps: workers/node packages present"
fi
