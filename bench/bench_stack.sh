#!/usr/bin/env bash
# The figures that a change of the stack (libtorch, the Python environment) moves, for one
# checkout with its build/ and .venv: node start-up (exec and the shared libraries loaded:
# `mnist_spark --help`, 9 runs, and its resident memory), C++ training (local, allreduce, ps:
# bench/train/bench_train_local.cc) and the Python and Spark jobs (bench/bench_python.py). Run
# it for two checkouts one after the other on a quiet machine to compare them:
#   bench/bench_stack.sh [TREE]   (default: this checkout)
set -uo pipefail
cd "${1:-$(dirname "$0")/..}"
export PATH="$PWD/.venv/bin:$PATH"
echo "== tree $PWD, torch $(.venv/bin/python -c 'import torch; print(torch.__version__)' 2>/dev/null)"
echo "== node start-up: build/bin/mnist_spark --help, 9 runs (s, sorted; max resident KiB)"
runs=$(mktemp)
for _ in 1 2 3 4 5 6 7 8 9; do
  /usr/bin/time -f "%e %M" build/bin/mnist_spark --help > /dev/null 2>> "$runs"
done
sort -n "$runs" | awk '{t = t $1 " "; if ($2 > m) m = $2} END {print t "| " m " KiB"}'
rm -f "$runs"
echo "== C++ training (bench_train_local)"
timeout 900 build/bin/bench_train_local 2>&1 | grep '^{'
echo "== the Python job, the C++ job and the Spark jobs (bench_python.py)"
timeout 1500 .venv/bin/python bench/bench_python.py 2>&1 |
  grep -v -E '^\[|^[0-9]{2}:[0-9]{2}|^reservation server|^feed '
