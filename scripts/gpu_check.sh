#!/usr/bin/env bash
# The GPU check, for a machine with a GPU: the MNIST CNN trained on a CUDA device through
# parameter servers (1 ps + 2 workers) and through allreduce (2 workers), the same two jobs on
# the CPU, and each one's samples/s with the GPU/CPU ratio; the GPU-trained models are then
# evaluated (on the GPU and on the CPU), and a Python job checks ctx.device and the NCCL
# process group. Run from the repository root after the README's set-up (.venv made); it needs
# no network. Every step has a timeout; it exits non-zero naming the reason when no GPU is
# visible or a step fails.
#
#   scripts/gpu_check.sh [WORK_DIR]   (default: a new directory under /tmp)
#
# GPU_CHECK_EPOCHS (1) sets the training data of each run, GPU_CHECK_STEPS (no limit) its
# global steps at most; GPU_CHECK_CPU_THREADS (4) the intra-op threads of each CPU node.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="${TOS_BIN_DIR:-$ROOT/build/bin}"
PY="$ROOT/.venv/bin/python"
WORK="${1:-$(mktemp -d /tmp/tos-gpu-check-XXXXXX)}"
EPOCHS="${GPU_CHECK_EPOCHS:-1}"
STEPS="${GPU_CHECK_STEPS:-100000000}"
CPU_THREADS="${GPU_CHECK_CPU_THREADS:-4}"
mkdir -p "$WORK"

fail() {
  echo "gpu_check: FAILED: $*" >&2
  exit 1
}
# step SECONDS LOG COMMAND...: runs COMMAND with its output in LOG (and its tail on failure).
step() {
  local secs="$1" log="$2" rc=0
  shift 2
  timeout --kill-after=10 "$secs" "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -40 "$log" >&2 || true
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then fail "$1 ran past its $secs s (log: $log)"; fi
    fail "$1 exited with status $rc (log: $log)"
  fi
}
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

echo "== 1. a GPU must be visible"
[ "${CUDA_VISIBLE_DEVICES-unset}" = "" ] && fail "CUDA_VISIBLE_DEVICES is empty: it hides every GPU"
command -v nvidia-smi >/dev/null || fail "no GPU visible: nvidia-smi is not on PATH (no NVIDIA driver?)"
timeout 30 nvidia-smi -L >"$WORK/nvidia-smi.txt" 2>&1 ||
  fail "no GPU visible: nvidia-smi -L failed: $(head -3 "$WORK/nvidia-smi.txt")"
GPUS="$(grep -c '^GPU ' "$WORK/nvidia-smi.txt" || true)"
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
  GPUS="$(echo "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | grep -c . || true)"
fi
[ "$GPUS" -ge 1 ] || fail "no GPU visible: nvidia-smi -L lists none"
sed 's/^/  /' "$WORK/nvidia-smi.txt"
[ -x "$PY" ] || fail "no .venv: run the README's set-up first (make build)"
step 120 "$WORK/torch-import.txt" "$PY" -c "import sys, torch; open(sys.argv[1], 'w').write('%s %s %s %d\\n' % (
torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.device_count()))" "$WORK/torch.txt"
read -r TORCH_VERSION TORCH_CUDA TORCH_SEES TORCH_COUNT <"$WORK/torch.txt"
echo "  torch $TORCH_VERSION (CUDA $TORCH_CUDA): is_available $TORCH_SEES, $TORCH_COUNT devices"
[ "$TORCH_CUDA" != "None" ] || fail "the .venv's torch $TORCH_VERSION has no CUDA (a CPU-only wheel)"
[ "$TORCH_SEES" = "True" ] || fail "torch sees no CUDA device although nvidia-smi lists $GPUS"

echo "== 2. build (if needed)"
if [ -x "$BIN/mnist_spark" ] && [ -x "$BIN/mnist_data_setup" ] &&
  ls python/torchonspark/_tos.*.so >/dev/null 2>&1; then
  echo "  built: $BIN"
elif [ -f build/build.ninja ]; then
  step 3600 "$WORK/build.txt" cmake --build build -j "$(nproc)"
else
  step 3600 "$WORK/build.txt" make build
fi
[ -x "$BIN/mnist_spark" ] || fail "no $BIN/mnist_spark after the build (log: $WORK/build.txt)"

echo "== 3. data: Fashion-MNIST as TFRecords"
step 600 "$WORK/data.txt" "$BIN/mnist_data_setup" --format tfr --output "$WORK/data" --overwrite

# Two workers on one GPU share it; with two or more GPUs each gets its own.
SPREAD=()
[ "$GPUS" -ge 2 ] && SPREAD=(--gpus_per_node 1)
COMMON=(--input_mode tensorflow --format tfr --images "$WORK/data/train" --model_type cnn
  --optimizer adam --learning_rate 0.001 --batch_size 100 --epochs "$EPOCHS" --steps "$STEPS"
  --seed 7 --checkpoint_steps 100000000)

# train NAME DEVICE STRATEGY: one training run; sets RATE (samples/s, the workers' sum) and SECS.
train() {
  local name="$1" device="$2" strategy="$3" log="$WORK/$1.txt" layout threads=1 extra=()
  if [ "$strategy" = ps ]; then layout=(--cluster_size 3 --num_ps 1); else
    layout=(--cluster_size 2 --num_ps 0 --strategy allreduce); fi
  [ "$device" = cpu ] && threads="$CPU_THREADS"
  [ "$device" = cuda ] && extra=("${SPREAD[@]}")
  rm -rf "$WORK/model-$name"
  local t0
  t0="$(now)"
  step 900 "$log" "$BIN/mnist_spark" --mode train --model "$WORK/model-$name" "${layout[@]}" \
    --device "$device" --threads "$threads" "${COMMON[@]}" "${extra[@]}"
  SECS="$(calc %.1f "$(now) - $t0")"
  local on_gpu
  on_gpu="$(grep -c 'computes on cuda:0' "$log" || true)"
  if [ "$device" = cuda ] && [ "$on_gpu" -ne 2 ]; then fail "$name: not both workers said they compute on cuda:0 ($log)"; fi
  if [ "$device" = cpu ] && [ "$on_gpu" -ne 0 ]; then fail "$name: a worker computed on a GPU ($log)"; fi
  RATE="$(grep -o 'done: global step [0-9]*, [0-9]* samples in [0-9.]* s ([0-9]* samples/s)' "$log" |
    sed 's/.*(\([0-9]*\) samples\/s)/\1/' | awk '{s += $1} END {print s + 0}')"
  [ "$RATE" -gt 0 ] || fail "$name: no worker reported its samples/s ($log)"
  if [ "$strategy" = allreduce ]; then
    local sums
    sums="$(grep -o 'parameter checksum [^ ]*' "$log" | sort -u | wc -l)"
    [ "$sums" -eq 1 ] || fail "$name: the two workers' parameters differ ($log)"
  fi
  printf '  %-14s %8d samples/s  (job %s s)\n' "$name" "$RATE" "$SECS"
}

echo "== 4. training, $EPOCHS epoch(s) of the CNN each (GPUs: $GPUS; CPU nodes: $CPU_THREADS threads)"
train ps-cuda cuda ps
PS_CUDA="$RATE"
train allreduce-cuda cuda allreduce
AR_CUDA="$RATE"
train ps-cpu cpu ps
PS_CPU="$RATE"
train allreduce-cpu cpu allreduce
AR_CPU="$RATE"

echo "== 5. the GPU-trained models on the test set (on the GPU, then on the CPU)"
# infer NAME DEVICE: accuracy of model-NAME, evaluated on DEVICE.
infer() {
  local log="$WORK/infer-$1-$2.txt"
  step 600 "$log" "$BIN/mnist_spark" --mode inference --cluster_size 2 --format tfr \
    --images "$WORK/data/test" --model "$WORK/model-$1" --output "$WORK/pred-$1-$2" --device "$2"
  local acc
  acc="$(sed -n 's/^accuracy: \([0-9.]*\).*/\1/p' "$log")"
  [ -n "$acc" ] || fail "inference of $1 on $2 printed no accuracy ($log)"
  echo "  $1 on $2: accuracy $acc"
  awk -v a="$acc" 'BEGIN { exit !(a >= 0.75) }' || fail "$1 on $2: accuracy $acc is below 0.75 ($log)"
}
infer ps-cuda cuda
infer allreduce-cuda cpu

echo "== 6. Python: ctx.device and init_process_group() (NCCL on the GPU)"
NODES=1
[ "$GPUS" -ge 2 ] && NODES=2
cat >"$WORK/python_check.py" <<'EOF'
import json, os, sys
from torchonspark import local

def map_fun(args, ctx):
    import torch
    group = ctx.init_process_group()
    t = torch.ones(4, device=ctx.device) * (ctx.worker_index + 1)
    torch.distributed.all_reduce(t)
    seen = {"device": str(ctx.device), "backend": str(torch.distributed.get_backend(group)),
            "sum": t.sum().item(), "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}
    with open(os.path.join(args, "py-%d.json" % ctx.worker_index), "w") as f:
        json.dump(seen, f)
    torch.distributed.destroy_process_group()

nodes, out = int(sys.argv[1]), sys.argv[2]
c = local.run(map_fun, out, nodes, 0, gpus_per_node=1, reservation_timeout=120)
c.shutdown(timeout=300)
want = 4 * sum(range(1, nodes + 1))
for i in range(nodes):
    seen = json.load(open(os.path.join(out, "py-%d.json" % i)))
    print("  worker %d: %s" % (i, seen))
    assert seen["device"] == "cuda:0" and seen["backend"] == "nccl" and seen["sum"] == want, seen
EOF
mkdir -p "$WORK/py"
step 600 "$WORK/python.txt" env PYTHONPATH="$ROOT/python" "$PY" "$WORK/python_check.py" "$NODES" "$WORK/py"
grep '^  worker' "$WORK/python.txt" || true

echo "== samples/s (the workers' sum), on $(head -1 "$WORK/nvidia-smi.txt" | sed 's/ (UUID.*//')"
printf '  %-10s %10s %10s %8s\n' strategy cuda cpu ratio
printf '  %-10s %10d %10d %8s\n' ps "$PS_CUDA" "$PS_CPU" "$(calc %.2f "$PS_CUDA / $PS_CPU")"
printf '  %-10s %10d %10d %8s\n' allreduce "$AR_CUDA" "$AR_CPU" "$(calc %.2f "$AR_CUDA / $AR_CPU")"
echo "gpu_check: OK (logs in $WORK)"
