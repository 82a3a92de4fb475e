#!/usr/bin/env bash
# The Python environment for the Spark bridge, idempotently: .venv with pyspark 3.5 (runs on
# Java 17), cloudpickle, pytest and the torchonspark package itself (editable). Java 17 comes
# from Debian (openjdk-17-jre-headless) when it is missing.
# The venv itself (Debian's Python with its torch, pyarrow) is scripts/venv_setup.sh's.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYSPARK_VERSION="${PYSPARK_VERSION:-3.5.3}"

if ! command -v java > /dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless procps
fi
bash "$ROOT/scripts/venv_setup.sh"
stamp="$VENV/.torchonspark-$PYSPARK_VERSION-2"
if [ ! -f "$stamp" ]; then
  # numpy is Debian's (python3-numpy): torch 1.13 needs NumPy 1.x, so pip must not upgrade it.
  "$VENV/bin/pip" install -q "pyspark==$PYSPARK_VERSION" cloudpickle pytest pytest-timeout
  "$VENV/bin/python" -c 'import numpy, torch; assert numpy.__version__.startswith("1."), numpy.__version__' || {
    echo "spark-setup: torch and NumPy 1.x (Debian's python3-torch, python3-numpy) are not usable from $VENV" >&2
    exit 1; }
  touch "$stamp"
fi
# The package from this checkout (cheap; keeps the venv pointing at this tree).
if ! "$VENV/bin/python" -c 'import torchonspark, os, sys; sys.exit(0 if os.path.realpath(torchonspark.__file__).startswith(os.path.realpath(sys.argv[1])) else 1)' "$ROOT/python" 2>/dev/null; then
  "$VENV/bin/pip" install -q --no-deps -e "$ROOT/python"
fi
