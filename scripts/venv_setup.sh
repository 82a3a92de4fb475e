#!/usr/bin/env bash
# The project's Python environment, .venv, idempotently: a plain venv of Debian's
# /usr/bin/python3 with python/requirements.txt from the registry: torch (whose libtorch the
# C++ programs build against, so both sides share one), NumPy 2, pandas, pyarrow (Arrow C++ for
# src/columns, and Spark's own Arrow path), pyspark 4, cloudpickle, pybind11 (for the
# extension modules) and pytest. pip's cache keeps the downloads for later runs.
# A venv made otherwise (an older one that used Debian's python3-torch) is made again.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
BASE_PYTHON="${TOS_BASE_PYTHON:-/usr/bin/python3}"
REQUIREMENTS="${TOS_REQUIREMENTS:-$ROOT/python/requirements.txt}"

if [ -x "$VENV/bin/python" ] && ! { grep -qx 'include-system-site-packages = false' "$VENV/pyvenv.cfg" &&
    grep -qx "home = $(dirname "$BASE_PYTHON")" "$VENV/pyvenv.cfg"; }; then
  echo "venv-setup: $VENV was not made from $BASE_PYTHON alone; making it again"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$BASE_PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.requirements-$(cat "$REQUIREMENTS" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "venv-setup: installing $(grep -v '^#' "$REQUIREMENTS" | tr '\n' ' ')into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS"
  modules=numpy,pyspark
  if grep -q '^torch==' "$REQUIREMENTS"; then modules="$modules,torch"; fi
  if grep -q '^pyarrow==' "$REQUIREMENTS"; then modules="$modules,pyarrow"; fi
  "$VENV/bin/python" -c "import $modules" || {
    echo "venv-setup: the packages of $REQUIREMENTS do not import from $VENV" >&2; exit 1; }
  rm -f "$VENV"/.requirements-*
  touch "$stamp"
fi
