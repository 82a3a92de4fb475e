#!/usr/bin/env bash
# Installs the fuzzing toolchain (clang 14 with libFuzzer and the sanitizer runtimes) on
# Debian 12, idempotently. Separate from setup.sh: the normal build does not need clang.
set -euo pipefail

PACKAGES=(clang-14 libclang-rt-14-dev)

# shellcheck source=apt_missing.sh
source "$(dirname "$0")/apt_missing.sh"
apt_install_missing "${PACKAGES[@]}"
