#!/usr/bin/env bash
# Python training functions in local mode (tests/python): the extension module
# (python/torchonspark/_tos*.so, built by make build) in the project's .venv.
# Usage: python_tests.sh [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/spark_setup.sh"
export PYTHONDONTWRITEBYTECODE=1
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/python" "$@"
