#!/usr/bin/env bash
# Style checks (docs/style.md), with clang-format and clang-tidy 14 from Debian:
#   scripts/lint.sh format         reformat every C++ file in place
#   scripts/lint.sh format-check   list the files clang-format would change; fails if any
#   scripts/lint.sh tidy BUILD     clang-tidy (.clang-tidy's checks) over the library sources,
#                                  with BUILD's compile_commands.json; fails on any finding
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=apt_missing.sh
source scripts/apt_missing.sh
apt_install_missing clang-format-14 clang-tidy-14

sources() { find include src tests bench examples fuzz python/ext -name '*.cc' -o -name '*.h' | sort; }

case "${1:-}" in
  format)
    sources | xargs clang-format-14 -i ;;
  format-check)
    bad=$(sources | xargs clang-format-14 --dry-run 2>&1 | grep -oE '^[^:]+:[0-9]+:[0-9]+: warning' | cut -d: -f1 | sort -u || true)
    if [ -n "$bad" ]; then
      echo "clang-format would change these files (run: make format):"
      echo "$bad" | sed 's/^/  /'
      exit 1
    fi
    echo "format-check: $(sources | wc -l) files follow .clang-format" ;;
  tidy)
    build=${2:?usage: scripts/lint.sh tidy BUILD_DIR}
    test -f "$build/compile_commands.json" || { echo "no $build/compile_commands.json: run make build first"; exit 1; }
    # The library sources: every module, libtorch's included.
    files=$(find src -name '*.cc' | sort)
    out=$(mktemp)
    trap 'rm -f "$out"' EXIT
    status=0
    # -Wno-unknown-warning-option: the build is g++'s, whose flags (-Wno-restrict) clang lacks.
    run-clang-tidy-14 -p "$build" -j "$(nproc)" -quiet -extra-arg=-Wno-unknown-warning-option $files > "$out" 2>/dev/null || status=$?
    findings=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' | sort -u || true)
    if [ -n "$findings" ] || [ "$status" -ne 0 ]; then
      echo "$findings"
      [ -n "$findings" ] || sed 's/\x1b\[[0-9;]*m//g' "$out" | tail -40
      echo "tidy: $(echo -n "$findings" | grep -c . || true) findings"
      exit 1
    fi
    echo "tidy: $(echo "$files" | wc -l) files, no finding" ;;
  *)
    echo "usage: scripts/lint.sh format | format-check | tidy BUILD_DIR" >&2
    exit 2 ;;
esac
