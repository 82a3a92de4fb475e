#!/usr/bin/env bash
# Regenerates the seed corpora in fuzz/corpus/ with the project's own writers
# (fuzz/make_corpus.cc). Inputs kept from findings (fuzz/corpus/*/regression-*) stay.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
bash scripts/fuzz_setup.sh
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja -DTOS_FUZZ=ON \
    -DTOS_WITH_TORCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD_DIR" -j "${FUZZ_JOBS:-1}" --target fuzz_make_corpus
ASAN_OPTIONS=detect_leaks=1 "$BUILD_DIR/bin/fuzz_make_corpus" fuzz/corpus
du -sh fuzz/corpus
