#!/usr/bin/env bash
# One pytest suite of tests/ in the project's .venv (scripts/spark_setup.sh makes it), with the
# programs of BIN_DIR. Each suite starts the clusters it needs and always stops them:
#   spark   the Spark bridge on a standalone cluster on 127.0.0.1
#   hdfs    HDFS clusters on 127.0.0.1 (scripts/hdfs_cluster.sh)
#   yarn    spark-submit --master yarn on YARN + HDFS (scripts/hdfs_cluster.sh --yarn)
#   hosts   four hosts as network namespaces (scripts/hosts.sh) with Spark and HDFS; root only
#   python  Python training functions, locally and on a standalone cluster of its own
# Usage: pytest_suite.sh SUITE BIN_DIR [pytest args], e.g. pytest_suite.sh hosts build/bin -k lost
# VENV (default .venv) and TOS_REQUIREMENTS (default python/requirements.txt) choose another
# Python environment, made by scripts/venv_setup.sh: an older torch, pyspark 3.5.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
USAGE="usage: pytest_suite.sh spark|hdfs|yarn|hosts|python BIN_DIR [pytest args]"
SUITE="${1:?$USAGE}"
case "$SUITE" in
  spark|hdfs|yarn|hosts|python) ;;
  *) echo "$USAGE" >&2; exit 2 ;;
esac
BIN="$(cd "${2:?$USAGE}" && pwd)"
shift 2
bash "$ROOT/scripts/spark_setup.sh"
export TOS_BIN_DIR="$BIN" PYTHONDONTWRITEBYTECODE=1
# The standalone cluster of the spark suite listens on loopback only.
if [ "$SUITE" = spark ]; then export SPARK_LOCAL_IP=127.0.0.1; fi
cd "$ROOT"
exec "${VENV:-$ROOT/.venv}/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/$SUITE" "$@"
