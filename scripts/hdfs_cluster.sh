#!/usr/bin/env bash
# A real single-machine HDFS (namenode + datanode from Apache Hadoop's published artifacts,
# fetched with Maven; WebHDFS on), for the tests and for trying TorchOnSpark on HDFS.
#
#   scripts/hdfs_cluster.sh start DIR [--ha] [--yarn] [--address A] [--owner-pid PID]
#   scripts/hdfs_cluster.sh stop DIR
#   scripts/hdfs_cluster.sh control DIR stop-namenode|stop-datanode|restart-datanode
#
# `start` returns once the cluster serves and prints its fs.defaultFS, WebHDFS address and
# HADOOP_CONF_DIR (also in DIR/cluster.env). --ha starts two namenodes as one nameservice,
# the first active and the second standby. --yarn also starts YARN (a ResourceManager and one
# NodeManager) and adds yarn-site.xml to HADOOP_CONF_DIR. --owner-pid: the cluster stops when
# that process ends (tests pass their own pid, so a killed test leaves nothing behind).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HADOOP_DIR="$ROOT/scripts/hadoop"
START_TIMEOUT_S="${HDFS_START_TIMEOUT_S:-180}"
STOP_TIMEOUT_S=30

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd="$1" dir="$2"; shift 2

ensure_tools() {
  local missing=()
  command -v java > /dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn > /dev/null 2>&1 || missing+=(maven)
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" != "0" ] && sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
}

# The classpath, resolved once per pom.xml and cached beside Maven's own cache.
classpath() {
  local key cache
  key="$(sha1sum "$HADOOP_DIR/pom.xml" | cut -c1-12)"
  cache="${HOME}/.m2/torchonspark-hadoop-$key.classpath"
  if [ ! -s "$cache" ] || ! tr ':' '\n' < "$cache" | while read -r jar; do [ -f "$jar" ] || exit 1; done; then
    mkdir -p "$(dirname "$cache")"
    (cd "$HADOOP_DIR" && mvn -B -q -Dstyle.color=never dependency:build-classpath -Dmdep.outputFile="$cache.tmp") >&2
    mv "$cache.tmp" "$cache"
  fi
  cat "$cache"
}

case "$cmd" in
  start)
    ensure_tools
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ -f "$dir/cluster.env" ] && kill -0 "$(sed -n 's/^PID=//p' "$dir/cluster.env")" 2> /dev/null; then
      echo "hdfs_cluster: a cluster already runs in $dir (stop it first)" >&2
      exit 1
    fi
    rm -rf "$dir/cluster.env" "$dir/data" "$dir/control" "$dir/hosts" "$dir/target" "$dir"/done-*
    cp="$(classpath)"
    # Hadoop resolves this machine's own host name (InetAddress.getLocalHost) and refuses to start
    # where it does not resolve (a minimal or container install often has no /etc/hosts entry
    # for it). The JVM gets a hosts file of its own that maps the name to the cluster's address.
    address=127.0.0.1 heap=768m
    args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
      [ "${args[$i]}" = "--address" ] && address="${args[$((i + 1))]}"
      # YARN's containers inherit HADOOP_CONF_DIR from the NodeManager, as on a real cluster.
      [ "${args[$i]}" = "--yarn" ] && heap=1536m && export HADOOP_CONF_DIR="$dir/conf"
    done
    printf '127.0.0.1 localhost\n%s %s\n' "$address" "$(cat /proc/sys/kernel/hostname)" > "$dir/hosts"
    # Hadoop 3.3 on Java 17: without these WebHDFS answers 500.
    opens=(--add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.util=ALL-UNNAMED
           --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED
           --add-opens java.base/java.lang.reflect=ALL-UNNAMED --add-opens java.base/java.io=ALL-UNNAMED)
    setsid nohup java -Xmx$heap "${opens[@]}" -Djdk.net.hosts.file="$dir/hosts" -Dlog4j.configuration=file:"$HADOOP_DIR/log4j.properties" \
      -cp "$cp" "$HADOOP_DIR/HdfsCluster.java" "$dir" "$@" > "$dir/cluster.log" 2>&1 < /dev/null &
    pid=$!
    deadline=$((SECONDS + START_TIMEOUT_S))
    until [ -f "$dir/cluster.env" ]; do
      if ! kill -0 "$pid" 2> /dev/null; then
        echo "hdfs_cluster: the cluster exited while starting; the end of $dir/cluster.log:" >&2
        tail -n 30 "$dir/cluster.log" >&2
        exit 1
      fi
      if [ $SECONDS -ge $deadline ]; then
        kill -9 "$pid" 2> /dev/null || true
        echo "hdfs_cluster: not serving after ${START_TIMEOUT_S}s; see $dir/cluster.log" >&2
        exit 1
      fi
      sleep 0.2
    done
    cat "$dir/cluster.env"
    ;;
  stop)
    [ -f "$dir/cluster.env" ] || exit 0
    dir="$(cd "$dir" && pwd)"
    pid="$(sed -n 's/^PID=//p' "$dir/cluster.env")"
    touch "$dir/control/shutdown" 2> /dev/null || true
    for _ in $(seq $((STOP_TIMEOUT_S * 5))); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2> /dev/null || true
    # YARN containers (and what they started) left behind by a cluster that had to be killed.
    for cwd in /proc/[0-9]*/cwd; do
      case "$(readlink "$cwd" 2> /dev/null)" in
        "$dir/target/"*) p="${cwd#/proc/}"; kill -9 "${p%/cwd}" 2> /dev/null || true ;;
      esac
    done
    rm -f "$dir/cluster.env"
    ;;
  control)
    [ $# -ge 1 ] || usage
    [ -f "$dir/cluster.env" ] || { echo "hdfs_cluster: no cluster in $dir" >&2; exit 1; }
    rm -f "$dir/done-$1"
    touch "$dir/control/$1"
    for _ in $(seq $((START_TIMEOUT_S * 5))); do
      [ -f "$dir/done-$1" ] && exit 0
      sleep 0.2
    done
    echo "hdfs_cluster: '$1' did not finish in ${START_TIMEOUT_S}s" >&2
    exit 1
    ;;
  *) usage ;;
esac
