#!/usr/bin/env bash
# Runs the benchmark programs one after another and prints their tables.
# Each section is one program; add new sections at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin

echo "== formats: IDX -> csv/csv2/tfr conversion and read-back (bench/core/bench_formats.cc) =="
"$BIN/bench_formats"
echo
echo "== feed: records/s into next_batch() with real node processes, and start-up latency (bench/core/bench_feed.cc) =="
"$BIN/bench_feed" --records 4000000 2>/dev/null | grep -v '^reservation server'
echo "-- peer: TensorFlowOnSpark-style feeding through a multiprocessing manager queue, one record per put/get"
python3 bench/peer_tfos_queue.py --records 50000
echo

if [ -x "$BIN/bench_train_local" ]; then
  echo "== train: mlp on Fashion-MNIST, local / allreduce (Gloo, TCP) / ps, vs PyTorch DDP (bench/train/bench_train_local.cc) =="
  "$BIN/bench_train_local"
  echo
fi
if [ -x "$BIN/mnist_spark" ]; then
  echo "== train: mnist_spark end to end (real nodes) vs PyTorch DDP, same run (bench/bench_mnist_spark.py) =="
  python3 bench/bench_mnist_spark.py
  echo
fi
echo "== DataFrames: rows/s per executor into the nodes, Arrow batches vs the RDD path vs PySpark's Python floor (bench/spark/bench_dataframe_feed.py) =="
SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python bench/spark/bench_dataframe_feed.py --rows 600000 --executors 1 2>/dev/null | grep '^{'
SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python bench/spark/bench_dataframe_feed.py --rows 600000 --executors 2 2>/dev/null | grep '^{'
if [ -x "$BIN/mnist_spark" ]; then
  echo "-- the whole MNIST training job on a DataFrame vs Spark's TorchDistributor, same cluster (bench/spark/bench_torch_distributor.py)"
  SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python bench/spark/bench_torch_distributor.py 2>/dev/null | grep '^{'
fi
echo "== Spark feed path: MNIST-sized csv lines from an RDD into next_batch() on a local standalone cluster (bench/spark/bench_spark_feed.py) =="
SPARK_LOCAL_IP=127.0.0.1 .venv/bin/python bench/spark/bench_spark_feed.py --records 200000 --executors 2 2>/dev/null | grep '^{'
if [ -x "$BIN/mnist_spark" ]; then
  echo "-- the whole MNIST job (1 ps + 2 workers, 1000 steps, then inference) through spark-submit, next to local mode"
  bash scripts/spark_demo.sh 2>&1 | grep -E 'accuracy|spark-submit train'
  start=$SECONDS
  "$BIN/mnist_spark" --cluster_size 3 --images mnist_data/train/images --labels mnist_data/train/labels \
    --format csv --mode train --model /tmp/tos-bench-local-model > /dev/null 2>&1
  train_s=$((SECONDS - start))
  start=$SECONDS
  "$BIN/mnist_spark" --cluster_size 3 --images mnist_data/test/images --labels mnist_data/test/labels \
    --format csv --mode inference --model /tmp/tos-bench-local-model --output /tmp/tos-bench-local-pred 2>&1 | grep accuracy
  echo "local mode (C++ driver) train: ${train_s} s, inference: $((SECONDS - start)) s"
  rm -rf /tmp/tos-bench-local-model /tmp/tos-bench-local-pred
else
  echo "-- the whole Spark MNIST job: skipped, $BIN/mnist_spark is not built"
fi
echo
echo "== HDFS: direct-mode reads and mnist_data_setup writes on a real HDFS vs local disk, vs HdfsCLI (bench/bench_hdfs.py) =="
.venv/bin/python -c 'import hdfs' 2> /dev/null || .venv/bin/pip install -q --disable-pip-version-check hdfs
.venv/bin/python bench/bench_hdfs.py "$BIN"
echo
echo "== Python training functions: feed into Python (list and array forms) and the Python MNIST job vs the C++ job vs DDP (bench/bench_python.py) =="
.venv/bin/python bench/bench_python.py 2>&1 | grep -v -E '^\[|^[0-9]{2}:[0-9]{2}|^reservation server|^feed '
echo
echo "== Between hosts: feed, ps and allreduce with the nodes on other hosts (network namespaces, veth) vs one host's loopback; the seed job on four hosts vs local mode (bench/bench_hosts.py) =="
if [ "$(id -u)" = 0 ] && [ -x "$BIN/mnist_spark" ]; then
  .venv/bin/python bench/bench_hosts.py 2>/dev/null | grep '^{'
else
  echo "-- skipped: needs root (network namespaces) and $BIN/mnist_spark"
fi
echo
