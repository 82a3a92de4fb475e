#!/usr/bin/env bash
# The multi-host tests (tests/hosts/*.py): four hosts as network namespaces (scripts/hosts.sh),
# Spark standalone and HDFS on them, started by the pytest session and always removed.
# Usage: hosts_tests.sh BIN_DIR [pytest args]. Needs root (skipped otherwise).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$(cd "${1:?usage: hosts_tests.sh BIN_DIR}" && pwd)"
shift
bash "$ROOT/scripts/spark_setup.sh"
export TOS_BIN_DIR="$BIN" PYTHONDONTWRITEBYTECODE=1
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/hosts" "$@"
