#!/usr/bin/env bash
# The clean-room check (make clean-room): the README's commands on a fresh Debian 12.
#
# Builds a minimal Debian 12 root with debootstrap from this machine's own package sources
# (none of the host's installed packages, Python packages or caches), clones the committed
# state of this repository into it, and runs there what a new user runs: install make, then
# `make demo` and `make test`. The root is a chroot with /proc, /sys and /dev and the host's
# loopback network. Run as root. Takes about an hour on 2 cores.
#
#   scripts/clean_room.sh [TARGETS...]     default: demo test
#   CLEAN_ROOM_DIR=/var/tmp/x  KEEP_CLEAN_ROOM=1  (keep the root afterwards)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${CLEAN_ROOM_DIR:-/var/tmp/tos-clean-room}"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(demo test)
[ "$(id -u)" = "0" ] || { echo "clean-room: run as root (debootstrap and chroot need it)" >&2; exit 2; }

log() { echo "clean-room: $*"; }
start=$(date +%s)

# The host's first Debian mirror, read at run time from its apt sources.
mirror() {
  local m=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" > /dev/null; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$m" ] || { echo "clean-room: no Debian mirror in the host's apt sources" >&2; exit 2; }
  echo "$m"
}

# Everything is mounted under the root's bind mount of itself (see below), so one recursive
# unmount takes /proc, /sys, /dev and what the tests mounted there (ip netns) with it.
unmount_all() {
  # A busy /dev (a process still holding a terminal) is detached lazily instead.
  if mountpoint -q "$ROOT" 2>/dev/null; then umount -R "$ROOT" 2>/dev/null || umount -lR "$ROOT" || true; fi
}
finish() {
  local rc=$?
  unmount_all
  if [ "${KEEP_CLEAN_ROOM:-0}" != "1" ] && [ -d "$ROOT" ]; then rm -rf --one-file-system "$ROOT"; fi
  log "finished with status $rc after $(( $(date +%s) - start )) s"
  exit $rc
}
trap finish EXIT

if ! command -v debootstrap > /dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
fi
unmount_all
rm -rf --one-file-system "$ROOT"
mkdir -p "$ROOT"
log "debootstrap --variant=minbase bookworm into $ROOT"
debootstrap --variant=minbase bookworm "$ROOT" "$(mirror)" > "$ROOT.debootstrap.log" 2>&1 ||
  { tail -20 "$ROOT.debootstrap.log"; exit 1; }

# What a new machine has configured for reaching its registries: apt sources and settings,
# DNS, its own name, the CA bundle, pip's configuration (and any local paths it names).
cp -a /etc/apt/sources.list.d/. "$ROOT/etc/apt/sources.list.d/" 2>/dev/null || true
# debootstrap wrote its own sources.list; the host's sources replace it.
if [ -f /etc/apt/sources.list ]; then cp /etc/apt/sources.list "$ROOT/etc/apt/sources.list"
elif compgen -G "/etc/apt/sources.list.d/*.sources" > /dev/null; then : > "$ROOT/etc/apt/sources.list"; fi
cp -a /etc/apt/apt.conf.d/. "$ROOT/etc/apt/apt.conf.d/" 2>/dev/null || true
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The machine's own name resolves on an installed machine (its installer writes /etc/hosts);
# debootstrap leaves the file out, and a chroot shares the host's name. YARN's containers
# reach their NodeManager by that name.
cp -L /etc/hosts "$ROOT/etc/hosts"
mkdir -p "$ROOT/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
# The root's ca-certificates package rebuilds that bundle from its own list when it is
# installed; keep the host's under another name for the tools that reach the registries.
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/host-ca-bundle.crt"
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
pip_env=()
while IFS='=' read -r name value; do
  pip_env+=("$name=$value")
  if [ -e "$value" ] && [ ! -e "$ROOT$value" ]; then  # a path pip needs (certificate, wheel dir)
    mkdir -p "$ROOT$(dirname "$value")"
    cp -a "$value" "$ROOT$value"
  fi
done < <(env | grep '^PIP_' | grep -v '^PIP_CERT=' || true)
pip_env+=(PIP_CERT=/etc/ssl/host-ca-bundle.crt SSL_CERT_FILE=/etc/ssl/host-ca-bundle.crt)

# On a real machine / is a mount point; `ip netns exec` and `ip -n` (the multi-host tests)
# rely on that (they remount / as a slave in their own mount namespace). A bind mount of the
# root onto itself makes it one in the chroot too; it is private, so nothing mounted inside
# (network namespaces included) shows on the host.
mount --bind "$ROOT" "$ROOT"
mount --make-rprivate "$ROOT"
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"

# A fresh clone of what is committed, as a user would get it.
log "cloning $(git -C "$REPO" rev-parse --short HEAD) into the root"
mkdir -p "$ROOT/src"
git clone -q --no-local "$REPO" "$ROOT/src/torchonspark"
rm -rf "$ROOT/src/torchonspark/.git/hooks"

# The Java trust store is made from the root's own CA bundle once a JRE is installed there
# (ca-certificates-java); the host's is copied in too, for Maven, as checked on this machine.
if [ -f /etc/ssl/certs/java/cacerts ]; then
  mkdir -p "$ROOT/etc/ssl/certs/java"
  cp -L /etc/ssl/certs/java/cacerts "$ROOT/etc/ssl/certs/java/cacerts"
fi

run_inside() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${pip_env[@]}" \
    bash -c "$1"
}
log "apt-get update and the one package the README's commands need first: make"
run_inside "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q make" > "$ROOT.setup.log" 2>&1 ||
  { tail -20 "$ROOT.setup.log"; exit 1; }
for t in "${TARGETS[@]}"; do
  t0=$(date +%s)
  log "make $t (output: $ROOT.make-$t.log)"
  if ! run_inside "cd /src/torchonspark && make $t" > "$ROOT.make-$t.log" 2>&1; then
    tail -60 "$ROOT.make-$t.log"
    log "make $t FAILED after $(( $(date +%s) - t0 )) s"
    exit 1
  fi
  log "make $t passed in $(( $(date +%s) - t0 )) s"
  tail -5 "$ROOT.make-$t.log"
done
