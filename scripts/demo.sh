#!/usr/bin/env bash
# The MNIST pipeline on Fashion-MNIST, step by step.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin

echo "== 1. convert the IDX files to a partitioned csv dataset =="
"$BIN/mnist_data_setup" --format csv --output mnist_data --overwrite

echo
echo "== 2. read it back and check it against the IDX files =="
"$BIN/mnist_data_setup" --format csv --output mnist_data --read

echo
echo "== what was written =="
for d in mnist_data/train/images mnist_data/train/labels mnist_data/test/images mnist_data/test/labels; do
  parts=$(ls "$d" | grep -c '^part-')
  echo "$d: $parts parts, $(du -sh "$d" | cut -f1), $(cat "$d"/part-* | wc -l) lines"
done
echo "first label line: $(head -n 1 mnist_data/train/labels/part-00000)"
