#!/usr/bin/env bash
# Remakes requirements/NAME.txt (exact versions and sha256 hashes of every wheel PyPI serves for
# them) from requirements/NAME.in with pip-tools, resolved on CPython 3.12 like install-deps.sh.
# Run it after changing a .in file, then ./scripts/install-deps.sh. Needs the network; the
# pip-tools it uses live in a throw-away venv under .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
# A pyenv shim named python3.12 may exist without that version selected: take one that runs.
PY="${FWBENCH_VENV_PYTHON:-}"
for c in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
  if [ -z "$PY" ] && "$c" -c '' 2>/dev/null; then PY="$c"; fi
done
TOOLS=.cache/lock-tools
if [ ! -x "$TOOLS/bin/pip-compile" ]; then
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q pip-tools==7.7.0
fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then names=(torch tf openvino onnx2tf clients); fi
for name in "${names[@]}"; do
  echo "lock-python: requirements/$name.in -> requirements/$name.txt"
  "$TOOLS/bin/pip-compile" -q --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-find-links --no-emit-index-url -o "requirements/$name.txt" "requirements/$name.in"
done
