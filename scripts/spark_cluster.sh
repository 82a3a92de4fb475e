#!/usr/bin/env bash
# A small Spark standalone cluster on 127.0.0.1 from pyspark's bundled Spark: one master and
# two workers (or WORKERS), each a separate JVM, on free ports. State (URLs, pids, logs, work
# dirs) lives in STATE_DIR.
#
#   scripts/spark_cluster.sh start STATE_DIR [WORKER_CORES [WORKERS]]   prints the master URL
#   scripts/spark_cluster.sh stop STATE_DIR                   stops everything it started,
#        including executors and node processes still running in the workers' directories
#
# SPARK_WORKER_OPTS and SPARK_MASTER_OPTS in the environment reach the workers and the master
# (e.g. -Dspark.worker.resource.gpu.amount=2 -Dspark.worker.resource.gpu.discoveryScript=FILE).
#
# Needs the Python environment of scripts/spark_setup.sh (PYTHON, default .venv/bin/python).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
cmd="${1:?usage: spark_cluster.sh start|stop STATE_DIR}"
STATE="${2:?usage: spark_cluster.sh start|stop STATE_DIR}"
WORKER_CORES="${3:-2}"
WORKERS="${4:-2}"

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Every process whose working directory is inside the state dir (executors, nodes, feed
# clients) or whose pid was recorded (master, workers).
our_pids() {
  local pids=""
  for f in "$STATE"/*.pid; do [ -f "$f" ] && pids="$pids $(cat "$f")"; done
  for p in /proc/[0-9]*; do
    local cwd
    cwd="$(readlink "$p/cwd" 2>/dev/null || true)"
    case "$cwd" in "$STATE" | "$STATE"/*) pids="$pids ${p#/proc/}" ;; esac
  done
  echo $pids
}

stop() {
  [ -d "$STATE" ] || return 0
  local pids
  pids="$(our_pids)"
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    pids="$(our_pids)"
    local alive=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -z "$alive" ] && break
    sleep 0.2
  done
  pids="$(our_pids)"
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  rm -f "$STATE"/*.pid
}

wait_for() {  # file text seconds
  for _ in $(seq 1 $(($3 * 5))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "spark_cluster: no '$2' in $1 after $3 s:" >&2
  tail -20 "$1" >&2 || true
  return 1
}

start() {
  stop
  mkdir -p "$STATE/logs"
  STATE="$(cd "$STATE" && pwd)"
  local spark_home
  spark_home="$("$PYTHON" -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')"
  export SPARK_HOME="$spark_home"
  export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOG_DIR="$STATE/logs" SPARK_PID_DIR="$STATE"
  export SPARK_DAEMON_MEMORY=256m PYSPARK_PYTHON="$PYTHON"
  local mport mui
  mport="$(free_port)"
  mui="$(free_port)"
  # Daemons keep none of this script's descriptors (a caller reading its output gets EOF).
  (cd "$STATE" && exec nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$mport" --webui-port "$mui" < /dev/null > "$STATE/logs/master.out" 2>&1) &
  echo $! > "$STATE/master.pid"
  wait_for "$STATE/logs/master.out" "I have been elected leader" 60 || { stop; exit 1; }
  local url="spark://127.0.0.1:$mport"
  for w in $(seq 1 "$WORKERS"); do
    local wport wui
    mkdir -p "$STATE/work$w"
    wport="$(free_port)"
    wui="$(free_port)"
    (cd "$STATE/work$w" && exec nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
      --host 127.0.0.1 --port "$wport" --webui-port "$wui" --cores "$WORKER_CORES" --memory 1200m \
      --work-dir "$STATE/work$w" "$url" < /dev/null > "$STATE/logs/worker$w.out" 2>&1) &
    echo $! > "$STATE/worker$w.pid"
  done
  for w in $(seq 1 "$WORKERS"); do
    wait_for "$STATE/logs/worker$w.out" "Successfully registered with master" 60 || { stop; exit 1; }
  done
  echo "$url" > "$STATE/master_url"
  echo "$url"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: spark_cluster.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac
