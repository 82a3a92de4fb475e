#!/usr/bin/env bash
# The YARN tests (tests/yarn/*.py): spark-submit --master yarn against a real YARN + HDFS on
# 127.0.0.1 that the pytest session starts (scripts/hdfs_cluster.sh --yarn) and always stops.
# Usage: yarn_tests.sh BIN_DIR [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$(cd "${1:?usage: yarn_tests.sh BIN_DIR}" && pwd)"
shift
bash "$ROOT/scripts/spark_setup.sh"
export TOS_BIN_DIR="$BIN" PYTHONDONTWRITEBYTECODE=1
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/yarn" "$@"
