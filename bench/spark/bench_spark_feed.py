"""Spark feed path benchmark: records/s from an RDD of MNIST-sized csv lines, through the
torchonspark feed tasks and the C++ feed client, into the nodes' next_batch().

Runs against a Spark master (--master, default: starts scripts/spark_cluster.sh's cluster and
stops it at the end). The nodes are tests/programs/tos_test_app (scenario lifecycle: they
consume every record with next_batch and count it). The RDD is generated, cached and counted
before timing, so the figure is the feed path alone. Prints one JSON line per run.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import shutil
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))


def csv_line(rng):
    # A Fashion-MNIST image as mnist_data_setup writes it: 784 comma-separated pixels.
    return ",".join(str(rng.randrange(256) if rng.random() < 0.5 else 0) for _ in range(784))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--master", default=None)
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--executors", type=int, default=2)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    a = ap.parse_args()

    state = None
    master = a.master
    script = os.path.join(ROOT, "scripts", "spark_cluster.sh")
    if master is None:
        state = tempfile.mkdtemp(prefix="tos-bench-spark-")
        out = subprocess.run(["bash", script, "start", state, "1"], check=True, stdout=subprocess.PIPE,
                             env=dict(os.environ, PYTHON=sys.executable))
        master = out.stdout.decode().strip().splitlines()[-1]
    try:
        from pyspark import SparkConf, SparkContext
        from torchonspark import TFCluster
        conf = (SparkConf().setMaster(master).setAppName("bench-spark-feed")
                .set("spark.executor.cores", "1").set("spark.cores.max", str(a.executors))
                .set("spark.executor.memory", "512m").set("spark.driver.memory", "512m")
                .set("spark.pyspark.python", sys.executable).set("spark.ui.enabled", "false")
                .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1"))
        sc = SparkContext(conf=conf)
        sc.setLogLevel("ERROR")
        try:
            rng = random.Random(1)
            distinct = [csv_line(rng) for _ in range(1000)]
            n, parts = a.records, a.partitions
            rdd = sc.parallelize(range(n), parts).map(lambda i: distinct[i % 1000]).cache()
            total_bytes = rdd.map(len).sum()
            # Peer in the same run: PySpark alone iterating the same partitions in Python
            # (the floor for any feed that goes through PySpark's workers).
            t = time.time()
            rdd.foreachPartition(lambda it: sum(1 for _ in it))
            iterate_s = time.time() - t
            out_dir = tempfile.mkdtemp(prefix="tos-bench-out-")
            app = os.path.join(a.bin, "tos_test_app")
            start = time.time()
            cluster = TFCluster.run(sc, app, ["--out", out_dir, "--scenario", "lifecycle", "--batch", "100"],
                                    num_executors=a.executors, num_ps=0, reservation_timeout=120)
            started = time.time()
            cluster.train(rdd, num_epochs=1)
            fed = time.time()
            cluster.shutdown(timeout=120)
            done = time.time()
            counted = sum(int(open(os.path.join(out_dir, "count-%d" % w)).read().split()[0])
                          for w in range(a.executors))
            shutil.rmtree(out_dir, ignore_errors=True)
            assert counted == n, "nodes counted %d records of %d" % (counted, n)
            secs = fed - started
            print(json.dumps({
                "bench": "spark_feed_csv_lines", "records": n, "mean_record_bytes": round(total_bytes / n),
                "executors": a.executors, "partitions": parts, "cluster_start_s": round(started - start, 2),
                "train_s": round(secs, 3), "records_per_s": round(n / secs),
                "records_per_s_per_executor": round(n / secs / a.executors),
                "MB_per_s": round(total_bytes / secs / 1e6, 1), "shutdown_s": round(done - fed, 2),
                "peer_pyspark_iterate_only_records_per_s": round(n / iterate_s),
                "ratio_feed_to_iterate_only": round(iterate_s / secs, 2)}))
        finally:
            sc.stop()
    finally:
        if state:
            subprocess.run(["bash", script, "stop", state])


if __name__ == "__main__":
    main()
