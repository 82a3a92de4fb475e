#!/usr/bin/env bash
# Installs the fuzzing toolchain (clang 14 with libFuzzer and the sanitizer runtimes) on
# Debian 12, idempotently. Separate from setup.sh: the normal build does not need clang.
set -euo pipefail

PACKAGES=(clang-14 libclang-rt-14-dev)

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz_setup: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
