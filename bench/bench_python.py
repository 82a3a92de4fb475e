#!/usr/bin/env python3
"""Python training functions: how fast records reach Python, and the Python MNIST job next to
the C++ mnist_spark and PyTorch DDP alone, measured in the same run.

1. Feed into Python (local mode, one worker node): records/s through DataFeed.next_batch (a
   Python tuple per record) and next_batch_arrays (one NumPy array per field, built in C++),
   for (uint8[784], int) tuple records, timed inside map_fun from the first batch to the
   feed's end; peer: TensorFlowOnSpark's manager-queue feed (bench/peer_tfos_queue.py).
2. MNIST (mlp 784-128-10, batch 100 per worker, Adagrad 0.01, 3 epochs, feed mode, one thread
   per process): samples/s = samples of all workers / the slowest worker's training time, and
   the whole job's wall time, for examples/mnist/python (ps and allreduce) and
   build/bin/mnist_spark (the same two), and bench/peer_ddp.py.

Run with the project's .venv Python (Debian's torch): .venv/bin/python bench/bench_python.py
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
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import bench_mnist_spark  # noqa: E402  (the C++ job and the DDP peer, as its bench runs them)

PY_DONE = re.compile(r"trained (\d+) samples in ([\d.]+) s")


def consume(args, ctx):
    """map_fun of the feed benchmark: reads the whole feed, times it, writes records/s."""
    feed = ctx.get_data_feed()
    n, start = 0, None
    while True:
        if args["arrays"]:
            batch = feed.next_batch_arrays(args["batch"])
            size = len(batch[0]) if batch else 0
        else:
            batch = feed.next_batch(args["batch"])
            size = len(batch)
        if start is None:
            start = time.perf_counter()
        if not size:
            break
        n += size
    secs = time.perf_counter() - start
    with open(args["out"], "w") as f:
        json.dump({"records": n, "secs": secs}, f)


def feed_rate(arrays, records, epochs, work):
    import numpy as np
    from torchonspark import local
    out = os.path.join(work, "feed-%s.json" % ("arrays" if arrays else "list"))
    cluster = local.run(consume, {"arrays": arrays, "batch": 1000, "out": out}, 1, 0,
                        log_dir=os.path.join(work, "logs"))
    image = np.arange(784, dtype=np.uint8)
    cluster.train([(image, i % 10) for i in range(records)], num_epochs=epochs, num_partitions=8)
    cluster.shutdown(timeout=600)
    r = json.load(open(out))
    return r["records"] / r["secs"], r["records"]


def tfos_queue_rate():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "peer_tfos_queue.py"), "--records", "50000"],
                         stdout=subprocess.PIPE, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["records_per_s"]


def python_job(work, csv, strategy, nodes, allreducer="ddp"):
    model = os.path.join(work, "pymodel-" + strategy)
    shutil.rmtree(model, ignore_errors=True)
    cmd = [sys.executable, os.path.join(ROOT, "examples", "mnist", "python", "mnist_spark.py"), "--local", str(nodes),
           "--strategy", strategy, "--allreducer", allreducer, "--mode", "train", "--model", model, "--epochs", "3", "--steps", "100000000",
           "--images", csv + "/train/images", "--labels", csv + "/train/labels"]
    env = dict(os.environ)
    if bench_mnist_spark.openblas_core():
        env["OPENBLAS_CORETYPE"] = bench_mnist_spark.openblas_core()
    start = time.time()
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900, env=env)
    wall = time.time() - start
    if out.returncode != 0:
        sys.exit("python %s failed:\n%s" % (strategy, out.stdout[-3000:]))
    samples, secs = 0, 0.0
    for m in PY_DONE.finditer(out.stdout):
        samples += int(m.group(1))
        secs = max(secs, float(m.group(2)))
    return samples / secs, wall


def main():
    work = tempfile.mkdtemp(prefix="tos_bench_py_")
    try:
        print("-- feed into Python: (uint8[784], int) records, 1 worker, batch 1000")
        peer = tfos_queue_rate()
        print("%-44s %14s %14s" % ("path", "records/s", "vs TFoS queue"))
        for arrays, records, epochs in ((False, 200000, 3), (True, 200000, 15)):
            rate, n = feed_rate(arrays, records, epochs, work)
            name = "next_batch_arrays (NumPy per field)" if arrays else "next_batch (a tuple per record)"
            print("%-44s %14.0f %13.1fx   (%d records)" % (name, rate, rate / peer, n))
            sys.stdout.flush()
        print("%-44s %14.0f" % ("peer: TFoS-style manager queue", peer))

        print("-- MNIST, feed mode, 3 epochs: the Python job vs the C++ job vs DDP alone")
        csv = os.path.join(work, "csv")
        subprocess.run([os.path.join(BIN, "mnist_data_setup"), "--format", "csv", "--output", csv],
                       stdout=subprocess.DEVNULL, check=True)
        feed = ["--input_mode", "spark", "--format", "csv", "--images", csv + "/train/images", "--labels",
                csv + "/train/labels"]
        ddp = bench_mnist_spark.run_peer(2)
        print("%-44s %12s %10s %10s %10s" % ("job", "samples/s", "wall s", "vs C++", "vs DDP"))
        for strategy, nodes, cpp_args in (
                ("ps", 3, ["--strategy", "ps", "--num_ps", "1", "--cluster_size", "3"]),
                ("allreduce", 2, ["--strategy", "allreduce", "--num_ps", "0", "--cluster_size", "2"])):
            cpp_rate, cpp_wall = bench_mnist_spark.run_system(work, "cpp-" + strategy, cpp_args + feed)
            label = "1 ps + 2 workers" if strategy == "ps" else "2 workers"
            print("%-44s %12.0f %10.1f %10s %9.2fx" % ("C++ mnist_spark, %s, %s" % (strategy, label), cpp_rate,
                                                       cpp_wall, "", cpp_rate / ddp))
            for allreducer in (["ddp"] if strategy == "ps" else ["ddp", "ring"]):
                py_rate, py_wall = python_job(work, csv, strategy, nodes, allreducer)
                name = strategy if strategy == "ps" else "allreduce (%s)" % ("DDP" if allreducer == "ddp" else "C++ ring")
                print("%-44s %12.0f %10.1f %9.2fx %9.2fx" % ("Python mnist_dist, %s, %s" % (name, label), py_rate,
                                                             py_wall, py_rate / cpp_rate, py_rate / ddp))
                sys.stdout.flush()
        print("%-44s %12.0f" % ("peer: PyTorch DDP/Gloo, 2 processes", ddp))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
