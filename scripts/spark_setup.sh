#!/usr/bin/env bash
# The Python environment for the Spark bridge, idempotently: .venv (scripts/venv_setup.sh: pyspark
# 4, which runs on Java 17, cloudpickle, pytest, torch) and the torchonspark package itself
# (editable). Java 17 comes from Debian (openjdk-17-jre-headless) when it is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"

if ! command -v java > /dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless procps
fi
bash "$ROOT/scripts/venv_setup.sh"
# The package from this checkout, as a path entry (cheap; keeps the venv pointing at this tree;
# `pip install ./python` would build the extension modules again). The modules are the build's:
# CMake writes them into python/torchonspark.
site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ "$(cat "$site/torchonspark-checkout.pth" 2>/dev/null)" != "$ROOT/python" ]; then
  echo "$ROOT/python" > "$site/torchonspark-checkout.pth"
fi
