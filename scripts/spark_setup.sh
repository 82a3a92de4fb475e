#!/usr/bin/env bash
# The Python environment for the Spark bridge, idempotently: .venv with pyspark 3.5 (runs on
# Java 17), numpy, pytest and the torchonspark package itself (editable). Java 17 comes from
# Debian (openjdk-17-jre-headless) when it is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYSPARK_VERSION="${PYSPARK_VERSION:-3.5.3}"

if ! command -v java > /dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless procps
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.torchonspark-$PYSPARK_VERSION"
if [ ! -f "$stamp" ]; then
  "$VENV/bin/pip" install -q "pyspark==$PYSPARK_VERSION" numpy pytest pytest-timeout
  touch "$stamp"
fi
# The package from this checkout (cheap; keeps the venv pointing at this tree).
if ! "$VENV/bin/python" -c 'import torchonspark, os, sys; sys.exit(0 if os.path.realpath(torchonspark.__file__).startswith(os.path.realpath(sys.argv[1])) else 1)' "$ROOT/python" 2>/dev/null; then
  "$VENV/bin/pip" install -q --no-deps -e "$ROOT/python"
fi
