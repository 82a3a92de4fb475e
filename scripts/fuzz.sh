#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cc) into build-fuzz/ and runs each for
# FUZZ_SECONDS (default 300), then prints per target the executions reached. Fails if any
# target reports a finding (crash, sanitizer report, leak, timeout, out of memory); the input
# that caused it is kept and its path printed.
#
#   scripts/fuzz.sh                      every target
#   scripts/fuzz.sh pickle_fuzz idx_fuzz the named ones
#   FUZZ_SECONDS=20 scripts/fuzz.sh      a smoke run (make fuzz-smoke)
#   FUZZ_RUNS=10000000 FUZZ_SECONDS=7200 scripts/fuzz.sh idx_fuzz
#                                        stop at 10 million executions (or the time, if first)
#
# Each run works on a temporary copy of fuzz/corpus/<target>/, so the committed seeds stay as
# they are (new inputs worth keeping are added by hand, see docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_RUNS=${FUZZ_RUNS:-}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${FUZZ_JOBS:-1}
RSS_LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-2048}
FINDINGS_DIR=${FUZZ_FINDINGS_DIR:-$BUILD_DIR/findings}

bash scripts/fuzz_setup.sh
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja -DTOS_FUZZ=ON \
    -DTOS_WITH_TORCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD_DIR" -j "$JOBS"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*_fuzz.cc; do targets+=("$(basename "$f" .cc)"); done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tos-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$FINDINGS_DIR"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# libFuzzer options of one target beyond the common ones.
target_options() {
  case $1 in
    # Inputs past 4096 bytes (libFuzzer's default cap for small seeds), so that payloads longer
    # than kFrameProbeBytes (4 KiB) can arrive and grow their buffer; up to kFrameTrustBytes
    # (16 KiB), past which a claimed length of up to 64 MiB would be allocated at once (each such
    # allocation costs milliseconds under ASan). That last step is covered by tests/net.
    frame_fuzz) echo "-max_len=16384" ;;
  esac
  if [ -n "$FUZZ_RUNS" ]; then echo "-runs=$FUZZ_RUNS"; fi
}

# One target: its row of the table goes to $work/<target>/row, a finding to $FINDINGS_DIR.
run_one() {
  local t=$1 bin="$BUILD_DIR/bin/$1"
  local corpus="$work/$t/corpus" artifacts="$work/$t/artifacts" log="$work/$t/log"
  mkdir -p "$corpus" "$artifacts"
  if [ ! -x "$bin" ]; then
    echo "fuzz: no target $t (expected $bin)" >&2
    printf '%-28s %14s %8s  %s' "$t" "-" "0" "MISSING" > "$work/$t/row"
    return
  fi
  if [ -d "fuzz/corpus/$t" ]; then cp -R "fuzz/corpus/$t/." "$corpus/"; fi
  echo "fuzz: $t for ${FUZZ_SECONDS}s" >&2
  local start rc=0 secs execs status=ok
  start=$(date +%s)
  # shellcheck disable=SC2046  # target_options gives separate words
  "$bin" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb="$RSS_LIMIT_MB" -timeout=25 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" $(target_options "$t") "$corpus" \
    >"$log" 2>&1 || rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(awk '/stat::number_of_executed_units:/ {n = $2} END {print n}' "$log")
  if [ -z "$execs" ]; then execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1); fi
  if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$artifacts")" ]; then
    status="FINDING (exit $rc)"
    mkdir -p "$FINDINGS_DIR/$t"
    cp -R "$artifacts/." "$FINDINGS_DIR/$t/" 2>/dev/null || true
    cp "$log" "$FINDINGS_DIR/$t/log.txt"
    echo "fuzz: $t found a problem; log and inputs in $FINDINGS_DIR/$t/" >&2
    grep -E "ERROR:|runtime error:|SUMMARY:|Test unit written" "$log" | head -20 >&2 || true
  fi
  printf '%-28s %14s %8s  %s' "$t" "${execs:-?}" "$secs" "$status" > "$work/$t/row"
}

# JOBS targets at a time (one core each).
running=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=()
rows=()
for t in "${targets[@]}"; do
  row=$(cat "$work/$t/row" 2>/dev/null || printf '%-28s %14s %8s  %s' "$t" "?" "?" "NO RESULT")
  rows+=("$row")
  case "$row" in *FINDING*|*MISSING*|*"NO RESULT"*) failed+=("$t") ;; esac
done

printf '\n%-28s %14s %8s  %s\n' target executions seconds result
for r in "${rows[@]}"; do echo "$r"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
