#!/usr/bin/env python3
"""Training throughput of the whole system (build/bin/mnist_spark with real node processes)
next to the PyTorch peer (bench/peer_ddp.py: DDP over Gloo, same model, batch, optimizer and
data), measured in the same run.

mlp 784-128-10 on Fashion-MNIST, batch 100 per worker, Adagrad 0.01, 3 epochs, one thread per
process. samples/s = samples trained by all workers / the slowest worker's training time
(start-up excluded, as in the peer). Prints a table and ratios.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
DONE = re.compile(r"worker (\d+) done: global step (\d+), (\d+) samples in ([\d.]+) s")


def run_system(work, name, args):
    model = os.path.join(work, "model-" + name)
    shutil.rmtree(model, ignore_errors=True)
    cmd = [os.path.join(BIN, "mnist_spark"), "--mode", "train", "--model", model, "--epochs", "3",
           "--steps", "100000000", "--batch_size", "100", "--optimizer", "adagrad", "--learning_rate", "0.01",
           "--checkpoint_steps", "100000000"] + args
    start = time.time()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    wall = time.time() - start
    if out.returncode != 0:
        sys.exit("%s failed:\n%s" % (name, out.stdout[-3000:]))
    samples, secs = 0, 0.0
    for m in DONE.finditer(out.stdout):
        samples += int(m.group(3))
        secs = max(secs, float(m.group(4)))
    return samples / secs, wall


def openblas_core():
    """The kernel family mnist_spark's launcher names for OpenBLAS (src/util/cpu.cc)."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return os.environ["OPENBLAS_CORETYPE"]
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "fma", "avx2"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return ""


def run_peer(processes):
    # The peer gets the same OpenBLAS kernels as the system's nodes.
    env = dict(os.environ)
    if openblas_core():
        env["OPENBLAS_CORETYPE"] = openblas_core()
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "peer_ddp.py"), "--processes",
                          str(processes)], stdout=subprocess.PIPE, text=True, timeout=900, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["samples_per_s"]


def main():
    work = tempfile.mkdtemp(prefix="tos_bench_")
    csv = os.path.join(work, "csv")
    tfr = os.path.join(work, "tfr")
    for fmt, out in (("csv", csv), ("tfr", tfr)):
        subprocess.run([os.path.join(BIN, "mnist_data_setup"), "--format", fmt, "--output", out],
                       stdout=subprocess.DEVNULL, check=True)
    direct = ["--input_mode", "tensorflow", "--format", "tfr", "--images", tfr + "/train"]
    feed = ["--input_mode", "spark", "--format", "csv", "--images", csv + "/train/images", "--labels",
            csv + "/train/labels"]
    configs = [
        ("allreduce, direct, 2 workers", ["--strategy", "allreduce", "--num_ps", "0", "--cluster_size", "2"] + direct, 2),
        ("allreduce, direct, 1 worker", ["--strategy", "allreduce", "--num_ps", "0", "--cluster_size", "1"] + direct, 1),
        ("allreduce, feed, 2 workers", ["--strategy", "allreduce", "--num_ps", "0", "--cluster_size", "2"] + feed, 2),
        ("ps async, direct, 1 ps + 2 workers", ["--strategy", "ps", "--num_ps", "1", "--cluster_size", "3"] + direct, 2),
        ("ps async, direct, 1 ps + 1 worker", ["--strategy", "ps", "--num_ps", "1", "--cluster_size", "2"] + direct, 1),
        ("ps async, feed, 1 ps + 2 workers", ["--strategy", "ps", "--num_ps", "1", "--cluster_size", "3"] + feed, 2),
    ]
    print("OpenBLAS kernels for both sides: %s" % (openblas_core() or "OpenBLAS's own choice"))
    peer2 = run_peer(2)
    peer1 = run_peer(1)
    print("%-38s %12s %10s %12s" % ("configuration", "samples/s", "job wall s", "vs peer DDP"))
    results = {}
    for name, args, workers in configs:
        rate, wall = run_system(work, name.replace(" ", "_").replace(",", ""), args)
        peer = peer2 if workers == 2 else peer1
        results[name] = rate
        print("%-38s %12.0f %10.1f %11.2fx" % (name, rate, wall, rate / peer))
        sys.stdout.flush()
    print("%-38s %12.0f" % ("peer: PyTorch DDP/Gloo, 2 processes", peer2))
    print("%-38s %12.0f" % ("peer: PyTorch DDP/Gloo, 1 process", peer1))
    print("scaling 1 -> 2 workers: allreduce %.2fx, ps %.2fx, peer %.2fx" % (
        results["allreduce, direct, 2 workers"] / results["allreduce, direct, 1 worker"],
        results["ps async, direct, 1 ps + 2 workers"] / results["ps async, direct, 1 ps + 1 worker"],
        peer2 / peer1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
