"""DataFrame feed benchmark: MNIST-shaped rows per second per executor from a cached Spark
DataFrame into the nodes, next to the RDD path and PySpark's own Python-worker floor, all in
one run on one local standalone cluster.

  dataframe_binary   cluster.train(df): image binary(784), label int, as Arrow batches
  dataframe_array    the same with image array<int>(784)
  rdd_tuples         cluster.train(rdd) of (image bytes, label) tuples: the RDD path
  pyspark_iterate    df.rdd.foreachPartition iterating the rows in Python, doing nothing else:
                     the floor for any path through PySpark's Python workers
  map_in_arrow_only  df.mapInArrow counting the rows of Spark's Arrow batches and nothing
                     else: the ceiling for any path through Spark's Arrow conversion

The nodes are Python training functions reading whole columns (ColumnFeed for DataFrames,
next_batch_arrays for the RDD) and counting rows, which the benchmark checks. Prints one JSON
line.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))


def count_rows(args, ctx):
    feed = ctx.get_data_feed()
    rows = 0
    if args["columns"]:
        columns = feed.columns()
        while True:
            batch = columns.next_batch_arrow(1000)
            if batch is None:
                break
            rows += batch.num_rows
    else:
        while True:
            batch = feed.next_batch_arrays(1000)
            if not batch:
                break
            rows += len(batch[1])
    with open(os.path.join(args["out"], "rows-%d" % ctx.executor_id), "w") as f:
        f.write(str(rows))


def _count_batches(batches):
    import pyarrow as pa
    rows = sum(b.num_rows for b in batches)
    yield pa.RecordBatch.from_arrays([pa.array([rows], pa.int64())], names=["rows"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--master", default=None)
    ap.add_argument("--rows", type=int, default=600000)
    ap.add_argument("--array_rows", type=int, default=150000,
                    help="rows of the array<int> DataFrame (4 bytes a pixel: it must fit the cache)")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--executors", type=int, default=2)
    a = ap.parse_args()
    # The executors' Python workers run this Python (pyarrow, torch); the session builder does
    # not pass spark.pyspark.python on to them.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    state = None
    master = a.master
    script = os.path.join(ROOT, "scripts", "spark_cluster.sh")
    if master is None:
        state = tempfile.mkdtemp(prefix="tos-bench-df-")
        out = subprocess.run(["bash", script, "start", state, "1"], check=True, stdout=subprocess.PIPE,
                             env=dict(os.environ, PYTHON=sys.executable))
        master = out.stdout.decode().strip().splitlines()[-1]
    try:
        from pyspark import SparkConf
        from pyspark.sql import SparkSession
        from torchonspark import TFCluster
        conf = (SparkConf().setMaster(master).setAppName("bench-dataframe-feed")
                .set("spark.executor.cores", "1").set("spark.cores.max", str(a.executors))
                .set("spark.executor.memory", "1g").set("spark.driver.memory", "1g")
                .set("spark.pyspark.python", sys.executable).set("spark.ui.enabled", "false")
                .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1"))
        spark = SparkSession.builder.config(conf=conf).getOrCreate()
        sc = spark.sparkContext
        sc.setLogLevel("ERROR")
        n = a.rows
        base = spark.range(0, n, 1, a.partitions)
        binary = base.selectExpr("unhex(repeat(lpad(hex(id % 256), 2, '0'), 784)) as image",
                                 "cast(id % 10 as int) as label").cache()
        array = spark.range(0, a.array_rows, 1, a.partitions).selectExpr(
            "array_repeat(cast(id % 256 as int), 784) as image", "cast(id % 10 as int) as label").cache()
        rdd = binary.rdd.map(lambda r: (bytes(r.image), r.label)).cache()
        for d in (binary, array):
            d.count()
        rdd.count()
        # Warm up Spark's Arrow path (the JVM's first conversions are several times slower),
        # then time it alone: Spark's own mapInArrow counting the rows, the ceiling of any
        # consumer of its Arrow batches.
        for d in (binary, array):
            d.mapInArrow(_count_batches, "rows long").collect()
        t = time.time()
        binary.mapInArrow(_count_batches, "rows long").collect()
        arrow_floor = n / (time.time() - t) / a.executors
        t = time.time()
        binary.rdd.foreachPartition(lambda it: sum(1 for _ in it))
        result = {"bench": "spark_dataframe_feed", "rows": n, "array_rows": a.array_rows, "executors": a.executors,
                  "partitions": a.partitions,
                  "pyspark_iterate_rows_per_s_per_executor": round(n / (time.time() - t) / a.executors)}

        def feed(name, data, columns, n=n):
            out = tempfile.mkdtemp(prefix="tos-bench-df-out-")
            cluster = TFCluster.run(sc, count_rows, {"out": out, "columns": columns}, a.executors, 0,
                                    reservation_timeout=120)
            start = time.time()
            cluster.train(data)
            secs = time.time() - start
            cluster.shutdown(timeout=120)
            counted = sum(int(open(os.path.join(out, f)).read()) for f in os.listdir(out))
            assert counted == n, "%s: the nodes counted %d rows of %d" % (name, counted, n)
            result[name + "_rows_per_s_per_executor"] = round(n / secs / a.executors)

        feed("dataframe_binary", binary, True)
        feed("dataframe_array", array, True, a.array_rows)
        feed("rdd_tuples", rdd, False)
        b = result["dataframe_binary_rows_per_s_per_executor"]
        result["ratio_binary_to_rdd"] = round(b / result["rdd_tuples_rows_per_s_per_executor"], 2)
        result["ratio_binary_to_pyspark_iterate"] = round(b / result["pyspark_iterate_rows_per_s_per_executor"], 2)
        result["spark_map_in_arrow_only_rows_per_s_per_executor"] = round(arrow_floor)
        result["ratio_binary_to_map_in_arrow_only"] = round(b / arrow_floor, 2)
        print(json.dumps(result))
        spark.stop()
    finally:
        if state:
            subprocess.run(["bash", script, "stop", state])


if __name__ == "__main__":
    main()
