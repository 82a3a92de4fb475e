#!/usr/bin/env bash
# Hosts on one machine, for the multi-host tests and for trying a cluster: N network namespaces
# joined by a bridge, each with its own address (10.215.0.K/24, K = 1..N), its own loopback and
# its own scratch and working directories. The bridge lives in a namespace of its own, so the
# machine's own network is never touched and nothing outside the machine is ever contacted.
#
#   scripts/hosts.sh up N DIR [--owner-pid PID]   prints DIR/hosts.env (also written there)
#   scripts/hosts.sh down DIR                     kills every process on the hosts, removes them
#   scripts/hosts.sh cut DIR K | restore DIR K    unplugs host K from the bridge (nothing it
#        sends arrives, no FIN or RST reaches anyone; the host itself notices nothing) or plugs
#        it back in
#
# Run a command on host K: `ip netns exec "$HOSTK_NS" COMMAND` (HOSTK_NS, HOSTK_ADDR, HOSTK_DIR
# from hosts.env). --owner-pid: hosts left by an owner that has ended (a test killed by its
# timeout) are removed by the next `up`. Needs root and iproute2 (scripts/setup.sh).
set -euo pipefail

SUBNET=10.215.0
PREFIX=toshost

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd="$1"
shift

# Kills every process in a namespace, then removes it.
remove_ns() {
  local ns="$1" pids
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    pids="$(ip netns pids "$ns" 2> /dev/null || true)"
    [ -z "$pids" ] && break
    kill -9 $pids 2> /dev/null || true
    sleep 0.1
  done
  ip netns del "$ns" 2> /dev/null || true
}

# Namespaces of owners that no longer run (named PREFIX<owner>-...).
remove_orphans() {
  local ns owner
  for ns in $(ip netns list 2> /dev/null | awk '{print $1}' | grep "^$PREFIX[0-9]*-" || true); do
    owner="${ns#"$PREFIX"}"
    owner="${owner%%-*}"
    kill -0 "$owner" 2> /dev/null || remove_ns "$ns"
  done
}

env_of() {  # DIR -> sources DIR/hosts.env
  [ -f "$1/hosts.env" ] || { echo "hosts: no hosts in $1 (run: hosts.sh up N $1)" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$1/hosts.env"
}

down() {
  local dir="$1" k ns
  [ -f "$dir/hosts.env" ] || return 0
  env_of "$dir"
  for ((k = 1; k <= HOSTS; k++)); do
    ns="HOST${k}_NS"
    remove_ns "${!ns}"
  done
  remove_ns "$SWITCH_NS"
  rm -f "$dir/hosts.env"
}

up() {
  local n="$1" dir="$2" owner="$$"
  shift 2
  [ "$n" -ge 1 ] && [ "$n" -le 200 ] || { echo "hosts: N must be 1..200" >&2; exit 2; }
  while [ $# -gt 0 ]; do
    case "$1" in
      --owner-pid) owner="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  [ "$(id -u)" = 0 ] || { echo "hosts: network namespaces need root" >&2; exit 1; }
  command -v ip > /dev/null || { echo "hosts: ip (iproute2) is missing; run scripts/setup.sh" >&2; exit 1; }
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  down "$dir"
  remove_orphans
  local tag="$PREFIX$owner-$(printf '%s' "$dir" | sha1sum | cut -c1-6)"
  local sw="$tag-sw"
  local out="HOSTS=$n\nSWITCH_NS=$sw\nOWNER_PID=$owner\n"
  # Written first, so that `down` removes whatever a failed `up` made.
  printf "$out" > "$dir/hosts.env"
  ip netns add "$sw"
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" link set br0 up
  local k ns
  for ((k = 1; k <= n; k++)); do
    ns="$tag-h$k"
    ip netns add "$ns"
    out="${out}HOST${k}_NS=$ns\nHOST${k}_ADDR=$SUBNET.$k\nHOST${k}_DIR=$dir/h$k\n"
    printf "$out" > "$dir/hosts.env"
    ip link add eth0 netns "$ns" type veth peer name "p$k" netns "$sw"
    ip -n "$sw" link set "p$k" master br0
    ip -n "$sw" link set "p$k" up
    ip -n "$ns" addr add "$SUBNET.$k/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    rm -rf "$dir/h$k"
    mkdir -p "$dir/h$k/scratch" "$dir/h$k/work"
  done
  # Every link is up (both ends of each veth) before `up` returns.
  for ((k = 1; k <= n; k++)); do
    for _ in $(seq 50); do
      ip -n "$tag-h$k" -br link show eth0 | grep -q ' UP ' && break
      sleep 0.1
    done
    ip -n "$tag-h$k" -br link show eth0 | grep -q ' UP ' \
      || { echo "hosts: host $k's link did not come up" >&2; down "$dir"; exit 1; }
  done
  cat "$dir/hosts.env"
}

# The switch's side of host K's cable: the host keeps its address and routes and does not
# notice, as when a switch port, a cable or a rack goes away.
link() {  # DIR K up|down
  env_of "$1"
  [ "$2" -ge 1 ] 2> /dev/null && [ "$2" -le "$HOSTS" ] || { echo "hosts: no host $2 in $1" >&2; exit 1; }
  ip -n "$SWITCH_NS" link set "p$2" "$3"
}

case "$cmd" in
  up) [ $# -ge 2 ] || usage; up "$@" ;;
  down) down "$(cd "$1" 2> /dev/null && pwd || echo "$1")" ;;
  cut) [ $# -ge 2 ] || usage; link "$1" "$2" down ;;
  restore) [ $# -ge 2 ] || usage; link "$1" "$2" up ;;
  *) usage ;;
esac
