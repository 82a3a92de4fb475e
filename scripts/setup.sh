#!/usr/bin/env bash
# Installs everything TorchOnSpark needs on Debian 12, idempotently.
# Run as root (or with sudo available). Safe to run again: it installs only what is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  zlib1g-dev libssl-dev libcli11-dev nlohmann-json3-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist python3-venv procps
  iproute2 iptables  # the multi-host tests: hosts as network namespaces, firewalls in them
  libopenblas0-pthread
  libcurl4-openssl-dev libpugixml-dev  # HDFS client: WebHDFS over HTTP, Hadoop configuration files
  python3-dev  # torchonspark's extension modules (pybind11 itself comes from the registry, in .venv)
)

# shellcheck source=apt_missing.sh
source "$(dirname "$0")/apt_missing.sh"
apt_install_missing "${PACKAGES[@]}"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# Debian's default BLAS is the reference implementation (about 9x slower for training here).
blas_alt=libblas.so.3-x86_64-linux-gnu
openblas=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
if [ -e "$openblas" ] && [ "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)" != "$openblas" ]; then
  echo "setup: selecting OpenBLAS as libblas.so.3"
  $SUDO update-alternatives --set "$blas_alt" "$openblas"
fi
lapack_alt=liblapack.so.3-x86_64-linux-gnu
openlapack=/usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3
if [ -e "$openlapack" ] && [ "$(readlink -f /usr/lib/x86_64-linux-gnu/liblapack.so.3)" != "$openlapack" ]; then
  $SUDO update-alternatives --set "$lapack_alt" "$openlapack"
fi

# The Python environment (.venv): the build needs its torch (libtorch), pyarrow (Arrow C++ for
# src/columns) and pybind11.
bash "$(dirname "$0")/venv_setup.sh"
