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
3. The same two MNIST jobs (ps, 1 ps + 2 workers) through spark-submit on a local standalone
   cluster (scripts/spark_cluster.sh), samples/s read from the nodes' logs, and the job's wall
   time from spark-submit to its end.

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
CPP_DONE = re.compile(r"worker \d+ done: global step \d+, (\d+) samples in ([\d.]+) s")


def rate_of(texts, pattern):
    samples, secs = 0, 0.0
    for text in texts:
        for m in pattern.finditer(text):
            samples += int(m.group(1))
            secs = max(secs, float(m.group(2)))
    return samples / secs if secs else 0.0


def spark_jobs(work, csv):
    """(name, samples/s, wall s) of the Python and the C++ MNIST job through spark-submit."""
    import glob
    import pyspark
    state = os.path.join(work, "spark")
    script = os.path.join(ROOT, "scripts", "spark_cluster.sh")
    env = dict(os.environ, PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    master = subprocess.run(["bash", script, "start", state, "2"], env=env, check=True, stdout=subprocess.PIPE,
                            text=True, timeout=180).stdout.strip().splitlines()[-1]
    submit = [os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit"), "--master", master,
              "--conf", "spark.executor.cores=1", "--conf", "spark.cores.max=3", "--conf", "spark.executor.memory=512m",
              "--conf", "spark.driver.memory=512m", "--conf", "spark.driver.host=127.0.0.1",
              "--conf", "spark.ui.enabled=false"]
    data = ["--images", csv + "/train/images", "--labels", csv + "/train/labels", "--mode", "train", "--epochs", "3",
            "--steps", "100000000", "--cluster_size", "3", "--num_ps", "1"]
    jobs = [("Python mnist_dist (spark-submit)", PY_DONE,
             [os.path.join(ROOT, "examples", "mnist", "python", "mnist_spark.py")] + data),
            ("C++ mnist_spark (spark-submit)", CPP_DONE,
             [os.path.join(ROOT, "examples", "mnist", "spark", "mnist_spark.py"), "--program",
              os.path.join(BIN, "mnist_spark"), "--format", "csv", "--checkpoint_steps", "100000000"] + data)]
    out = []
    try:
        for i, (name, pattern, args) in enumerate(jobs):
            model = os.path.join(work, "spark-model-%d" % i)
            before = set(glob.glob(os.path.join(state, "work*", "app-*")))
            start = time.time()
            r = subprocess.run(submit + args + ["--model", model], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=900)
            wall = time.time() - start
            if r.returncode != 0:
                sys.exit("%s failed:\n%s" % (name, r.stdout[-3000:]))
            apps = set(glob.glob(os.path.join(state, "work*", "app-*"))) - before
            logs = [open(p, errors="replace").read() for a in apps for p in glob.glob(os.path.join(a, "*", "tos_logs", "*"))]
            out.append((name, rate_of(logs, pattern), wall))
    finally:
        subprocess.run(["bash", script, "stop", state], env=env, timeout=120)
    return out


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
    return rate_of([out.stdout], PY_DONE), wall


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

        print("-- MNIST through spark-submit on a local standalone cluster, ps, 1 ps + 2 workers, 3 epochs")
        print("%-44s %12s %10s %10s" % ("job", "samples/s", "wall s", "vs C++"))
        (py_name, py_rate, py_wall), (cpp_name, cpp_rate, cpp_wall) = spark_jobs(work, csv)
        print("%-44s %12.0f %10.1f" % (cpp_name, cpp_rate, cpp_wall))
        print("%-44s %12.0f %10.1f %9.2fx" % (py_name, py_rate, py_wall, py_rate / cpp_rate if cpp_rate else 0))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
