#!/usr/bin/env bash
# Installs what fwbench needs from Debian 12 packages and the npm registry (exact versions from
# each package-lock.json). Idempotent: packages that are already present are not fetched again,
# and apt-get update runs only when needed. `--test` adds what only the test suite needs:
# Debian's chromium (the report is opened in it), the browser test's npm packages, and clang with
# libFuzzer (libclang-rt-14-dev; Debian's libfuzzer-14-dev alone left the fuzz test skipped) for the
# request-parser fuzz targets, and clang-tidy-14 (ctest Lint.ClangTidy, scripts/tidy.sh).
# `--slurm` (implied by --test) adds Debian's Slurm 22.05 (slurmctld, slurmd, slurmdbd, the client
# programs) and MariaDB for its accounting: what scripts/slurm-test-cluster.sh starts, 31 MB.
# iproute2's `ip` makes the network namespaces that train_ddp's hosts run in (ddp.hosts > 1).
set -euo pipefail
WITH_TEST_TOOLS=0
WITH_SLURM=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST_TOOLS=1; WITH_SLURM=1 ;;
    --slurm) WITH_SLURM=1 ;;
    *) echo "install-deps: unknown argument $arg (expected --test, --slurm or nothing)" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake pkg-config git
  libtorch-dev libopenblas0-pthread
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev libsentencepiece-dev
  libboost1.81-dev libopencv-dnn-dev libopencv-imgcodecs-dev libsimdjson-dev wrk
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc
  openjdk-17-jre-headless
  python3 python3-torch python3-torchvision python3-numpy python3-opencv python3-onnx
  python3-fastapi python3-uvicorn python3-threadpoolctl
  iproute2
)
# Node.js for the Node workers: Debian's nodejs/npm unless a node is already on PATH.
if ! command -v node >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi
if [ "$WITH_TEST_TOOLS" = 1 ]; then PACKAGES+=(chromium clang libclang-rt-14-dev clang-tidy-14); fi
if [ "$WITH_SLURM" = 1 ]; then
  PACKAGES+=(slurmctld slurmd slurmdbd slurm-client mariadb-server)
fi

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

# Python environments, one per framework family so that their pins never fight: .venvs/torch
# (PyTorch, torchvision, the ONNX exporter, and the LibTorch the C++ side builds against),
# .venvs/tf (TensorFlow, Keras 3, JAX, ONNX Runtime), .venvs/openvino and .venvs/onnx2tf (the
# ONNX → TensorFlow converter), and with --test .venvs/clients (Triton's tritonclient, the
# conformance tests' client of fwbench serve) and TF Serving's client stubs in .venvs/tf. Each is installed from
# requirements/NAME.txt (exact versions and hashes; scripts/lock-python.sh remakes them) and
# only again when that file changed. Downloaded wheels stay in ~/.cache/fwbench/wheels
# ($FWBENCH_WHEEL_CACHE), so a second clone installs without downloading. FWBENCH_SKIP_VENVS=1 skips them all (Debian-only
# set-up: the ports then run wherever python3 has the framework, or skip with the reason).
pick_python() {
  # CPython 3.12 first: the locks were resolved on it and every pinned framework ships wheels
  # for it (JAX >= 0.11 has none for 3.11, Debian 12's python3). 3.13 is tried next.
  local c
  if [ -n "${FWBENCH_VENV_PYTHON:-}" ]; then echo "$FWBENCH_VENV_PYTHON"; return; fi
  for c in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 \
           python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import venv, ensurepip' 2>/dev/null; then
      command -v "$c"; return
    fi
  done
}
make_venv() {
  local name="$1" lock="$ROOT/requirements/$1.txt" dir="$ROOT/.venvs/$1"
  if [ -x "$dir/bin/python" ] && cmp -s "$lock" "$dir/.fwbench-lock"; then
    echo "install-deps: .venvs/$name present ($(cat "$dir/.fwbench-python-version"))"
    return
  fi
  local start=$SECONDS
  echo "install-deps: creating .venvs/$name from requirements/$name.txt with $VENV_PYTHON"
  rm -rf "$dir"
  "$VENV_PYTHON" -m venv "$dir"
  # Wheels are fetched into a cache of our own first: PyPI's answers here say not to cache them,
  # so pip's own cache stays empty and every clone would download them again.
  mkdir -p "$WHEELS"
  local before
  before=$(du -sb "$WHEELS" | cut -f1)
  "$dir/bin/python" -m pip download -q --no-input --require-hashes --no-deps \
    --only-binary=:all: -d "$WHEELS" -r "$lock"
  local fetched=$(( ($(du -sb "$WHEELS" | cut -f1) - before) / 1048576 ))
  local downloaded=$((SECONDS - start))
  "$dir/bin/python" -m pip install -q --no-input --require-hashes --no-deps --no-index \
    --find-links "$WHEELS" -r "$lock"
  "$dir/bin/python" -c 'import sys; print("CPython %d.%d.%d" % sys.version_info[:3])' \
    >"$dir/.fwbench-python-version"
  cp "$lock" "$dir/.fwbench-lock"
  echo "install-deps: .venvs/$name installed in $((SECONDS - start)) s (downloaded $fetched MiB" \
       "in $downloaded s), $(du -sh "$dir" | cut -f1) on disk"
}
if [ "${FWBENCH_SKIP_VENVS:-0}" != 1 ]; then
  WHEELS="${FWBENCH_WHEEL_CACHE:-$HOME/.cache/fwbench/wheels}"
  VENV_PYTHON="$(pick_python)"
  if [ -z "$VENV_PYTHON" ]; then
    echo "install-deps: no CPython 3.12 or 3.13 with venv found (PATH, ~/.pyenv/versions):" \
         "the PyTorch 2.x, TensorFlow, Keras 3, JAX, ONNX Runtime and OpenVINO workers will not" \
         "be installed. Install one (e.g. 'pyenv install 3.12') or set FWBENCH_VENV_PYTHON," \
         "then run this script again." >&2
  else
    make_venv torch
    make_venv tf
    make_venv openvino
    make_venv onnx2tf
    if [ "$WITH_TEST_TOOLS" = 1 ]; then
      make_venv clients
      # TF Serving's client stubs beside tensorflow-cpu (requirements/tf_serving_api.txt says why
      # they are installed without their dependencies).
      stamp="$ROOT/.venvs/tf/.fwbench-tf-serving-api"
      if ! cmp -s "$ROOT/requirements/tf_serving_api.txt" "$stamp"; then
        "$ROOT/.venvs/tf/bin/python" -m pip install -q --no-input --require-hashes --no-deps \
          -r "$ROOT/requirements/tf_serving_api.txt"
        cp "$ROOT/requirements/tf_serving_api.txt" "$stamp"
        echo "install-deps: tensorflow-serving-api 2.21.0 installed into .venvs/tf"
      fi
    fi
    # Keras 3's PyTorch backend runs in .venvs/tf and sees the torch environment's packages
    # after its own (one copy of torch, 5 GB, instead of two).
    tf_site="$("$ROOT/.venvs/tf/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    torch_site="$("$ROOT/.venvs/torch/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$torch_site" >"$tf_site/fwbench-torch-environment.pth"
  fi
fi
