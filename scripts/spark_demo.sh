#!/usr/bin/env bash
# The seed's MNIST pipeline on a real Spark standalone cluster (127.0.0.1, a master and two
# workers): Fashion-MNIST to csv, spark-submit train, spark-submit inference, accuracy. The
# cluster is stopped at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
BIN="$ROOT/build/bin"
PROGRAM="${PROGRAM:-$BIN/mnist_spark}"
if [ ! -x "$PROGRAM" ]; then
  echo "spark-demo: $PROGRAM is not built; it is the libtorch MNIST program (make build builds it" >&2
  echo "once the training library is in this checkout). Set PROGRAM=... to run another one." >&2
  exit 1
fi
bash scripts/spark_setup.sh
PY="$ROOT/.venv/bin/python"
SPARK_HOME="$("$PY" -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')"
export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$PY" PYSPARK_DRIVER_PYTHON="$PY"

STATE="$(mktemp -d /tmp/tos-spark-demo-XXXXXX)"
trap 'bash scripts/spark_cluster.sh stop "$STATE"; rm -rf "$STATE"' EXIT

echo "== 1. Fashion-MNIST -> csv (mnist_data/) =="
"$BIN/mnist_data_setup" --format csv --output mnist_data --overwrite | tail -n 4

echo "== 2. Spark standalone cluster on 127.0.0.1 =="
MASTER="$(bash scripts/spark_cluster.sh start "$STATE" 2 | tail -n 1)"
echo "master $MASTER"
SUBMIT=("$SPARK_HOME/bin/spark-submit" --master "$MASTER" --conf spark.executor.cores=1
        --conf spark.cores.max=3 --conf spark.executor.memory=512m --conf spark.driver.memory=512m
        --conf spark.driver.host=127.0.0.1 --conf spark.ui.enabled=false
        --conf spark.executorEnv.OMP_NUM_THREADS=1)

echo "== 3. train (1 ps + 2 workers) =="
rm -rf mnist_model predictions
start=$SECONDS
"${SUBMIT[@]}" examples/mnist/spark/mnist_spark.py --cluster_size 3 --program "$PROGRAM" \
  --images mnist_data/train/images --labels mnist_data/train/labels --format csv --mode train \
  --model "$ROOT/mnist_model" --epochs 1 --steps 1000 --batch_size 100 2>&1 | grep -v -E ' (INFO|WARN) '
train_s=$((SECONDS - start))

echo "== 4. inference on the test set =="
start=$SECONDS
"${SUBMIT[@]}" examples/mnist/spark/mnist_spark.py --cluster_size 3 --program "$PROGRAM" \
  --images mnist_data/test/images --labels mnist_data/test/labels --format csv --mode inference \
  --model "$ROOT/mnist_model" --output "$ROOT/predictions" 2>&1 | grep -v -E ' (INFO|WARN) '
infer_s=$((SECONDS - start))

echo "== 5. accuracy (predictions/part-*: 'label prediction' per test image) =="
"$PY" - <<'PYEOF'
import glob
total = correct = 0
for path in sorted(glob.glob("predictions/part-*")):
    for line in open(path):
        fields = line.split()
        if len(fields) < 2:
            continue
        total += 1
        correct += fields[0] == fields[1]
print("predictions: %d, accuracy: %.4f" % (total, correct / total if total else 0.0))
PYEOF
echo "spark-submit train: ${train_s} s, inference: ${infer_s} s"
