#!/usr/bin/env bash
# The Spark bridge tests (tests/spark/*.py) against a real standalone cluster on 127.0.0.1
# that the pytest session starts and always stops. Usage: spark_tests.sh BIN_DIR [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$(cd "${1:?usage: spark_tests.sh BIN_DIR}" && pwd)"
shift
bash "$ROOT/scripts/spark_setup.sh"
export TOS_BIN_DIR="$BIN" SPARK_LOCAL_IP=127.0.0.1 PYTHONDONTWRITEBYTECODE=1
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/spark" "$@"
