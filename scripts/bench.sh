#!/usr/bin/env bash
# Runs the benchmark programs one after another and prints their tables.
# Each section is one program; add new sections at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin

echo "== formats: IDX -> csv/csv2/tfr conversion and read-back (bench/core/bench_formats.cc) =="
"$BIN/bench_formats"
echo
