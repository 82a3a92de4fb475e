#!/usr/bin/env bash
# The MNIST pipeline of TensorFlowOnSpark on Fashion-MNIST, on this machine:
# data setup -> distributed training (1 ps + 2 workers, the driver feeds them) -> inference.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
elapsed() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100)); }
T0=$(now_ms)

echo "== 1. data setup: Fashion-MNIST IDX files -> partitioned csv (10 partitions) =="
"$BIN/mnist_data_setup" --format csv --num-partitions 10 --output mnist_data --overwrite

echo
echo "== 2. training: mlp, 1 parameter server + 2 workers, feed mode =="
rm -rf mnist_model
T=$(now_ms)
"$BIN/mnist_spark" --cluster_size 3 --num_ps 1 --input_mode spark \
  --images mnist_data/train/images --labels mnist_data/train/labels --format csv \
  --mode train --model mnist_model --epochs 5 --steps 100000 --optimizer adam --learning_rate 0.003
echo "training took $(elapsed "$T") s"

echo
echo "== 3. inference on the 10,000 test images =="
T=$(now_ms)
"$BIN/mnist_spark" --cluster_size 3 \
  --images mnist_data/test/images --labels mnist_data/test/labels --format csv \
  --mode inference --model mnist_model --output predictions
echo "inference took $(elapsed "$T") s; predictions (label prediction) in predictions/part-*"
echo
echo "pipeline done in $(elapsed "$T0") s"
