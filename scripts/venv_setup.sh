#!/usr/bin/env bash
# The project's Python environment, .venv, idempotently: made from Debian's /usr/bin/python3
# with --system-site-packages, plus Apache Arrow (the pyarrow wheel, pinned) and pandas.
#
# Why this Python: Python training functions need torch, and Debian's python3-torch is the same
# libtorch 1.13 the C++ side links (with the NumPy 1.x it was built for, python3-numpy); a pip
# torch would be a second, different libtorch. A venv made otherwise is made again.
#
# Why pyarrow: it is Spark's own Arrow path (DataFrame.mapInArrow needs pyarrow and pandas in
# every Python worker) and it ships Arrow C++'s headers and libraries, which the runtime's
# column library (src/columns) is built against: one Arrow, the one Spark uses (docs/spark.md).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
BASE_PYTHON="${TOS_BASE_PYTHON:-/usr/bin/python3}"
PYARROW_VERSION=17.0.0  # also in CMakeLists.txt (the libraries' soname suffix, 1700)
PANDAS_VERSION=2.1.4    # the last that keeps NumPy 1.x on Python 3.11 without an upgrade

if [ -x "$VENV/bin/python" ] && ! { grep -qx 'include-system-site-packages = true' "$VENV/pyvenv.cfg" &&
    grep -qx "home = $(dirname "$BASE_PYTHON")" "$VENV/pyvenv.cfg"; }; then
  echo "venv-setup: $VENV was not made from $BASE_PYTHON with its site packages; making it again"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$BASE_PYTHON" -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.arrow-$PYARROW_VERSION-pandas-$PANDAS_VERSION"
if [ ! -f "$stamp" ]; then
  # numpy is Debian's (python3-numpy): torch 1.13 needs NumPy 1.x, so pip must not upgrade it.
  "$VENV/bin/pip" install -q --disable-pip-version-check "pyarrow==$PYARROW_VERSION" \
    "pandas==$PANDAS_VERSION" "numpy==$("$VENV/bin/python" -c 'import numpy; print(numpy.__version__)')"
  touch "$stamp"
fi
