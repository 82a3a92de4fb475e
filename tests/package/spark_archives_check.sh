#!/usr/bin/env bash
# Shipping a Python environment to the executors as PySpark documents (docs/spark.md): a venv
# from /usr/bin/python3 with the package's wheel (make wheel) packed by venv-pack, unpacked by
# Spark on every executor of a local standalone cluster (spark.archives), whose Python then
# runs the nodes of a job with a Python map_fun (tests/package/archives_job.py). Not part of
# make test (the packed venv is about 0.5 GB); prints each node's Python and record count.
#   tests/package/spark_archives_check.sh WHEEL
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WHEEL="$(cd "$(dirname "${1:?usage: spark_archives_check.sh WHEEL}")" && pwd)/$(basename "$1")"
W="$(mktemp -d /tmp/tos-archives-XXXXXX)"
mkdir -p "$W/out"
/usr/bin/python3 -m venv "$W/job_env"
"$W/job_env/bin/pip" install -q "$WHEEL" venv-pack
(cd "$W" && job_env/bin/venv-pack -q -p job_env -o job_env.tar.gz)
export SPARK_LOCAL_IP=127.0.0.1 PYTHON="$ROOT/.venv/bin/python"
master=$(bash "$ROOT/scripts/spark_cluster.sh" start "$W/cluster" 1 2 | tail -1)
trap 'bash "$ROOT/scripts/spark_cluster.sh" stop "$W/cluster"; rm -rf "$W"' EXIT
cd "$W"
PYSPARK_DRIVER_PYTHON="$ROOT/.venv/bin/python" timeout 600 \
  "$ROOT/.venv/lib/python3.11/site-packages/pyspark/bin/spark-submit" --master "$master" \
  --archives job_env.tar.gz#job_env --conf spark.pyspark.python=./job_env/bin/python \
  --conf spark.executor.cores=1 --conf spark.cores.max=2 "$ROOT/tests/package/archives_job.py" "$W/out" \
  > "$W/submit.log" 2>&1 || { tail -30 "$W/submit.log"; exit 1; }
"$ROOT/.venv/bin/python" - "$W/out" <<'PY'
import glob, json, sys
nodes = [json.load(open(p)) for p in sorted(glob.glob(sys.argv[1] + "/node-*.json"))]
for n in nodes:
    print(n)
assert len(nodes) == 2, nodes
assert all("/job_env/bin/python" in n["python"] for n in nodes), "the nodes did not run the shipped Python"
assert sum(n["records"] for n in nodes) == 5000, "records lost or duplicated"
print("spark.archives: both nodes ran the shipped venv's Python; 5000 records fed once")
PY
