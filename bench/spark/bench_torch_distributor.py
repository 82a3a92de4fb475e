"""The whole MNIST training job on a DataFrame: TorchOnSpark against Spark's own
TorchDistributor (pyspark.ml.torch), measured in the same run on the same local standalone
cluster (2 executors of 1 core).

Both train the seed's MLP (784-128-10, Adagrad 0.01, initial accumulator 0.1, batch 100) with
PyTorch DistributedDataParallel over Gloo, 2 processes, for the same epochs, on the same cached
DataFrame of Fashion-MNIST's training set (image array<int>, label int; TorchDistributor's
loader cannot read binary columns):
  torchonspark        TFCluster.run(sc, mnist_dist.map_fun) + cluster.train(df): Arrow batches
                      streamed to the nodes, read as NumPy columns (examples/mnist/python)
  torchonspark_binary the same with the image as a binary column (784 bytes)
  torch_distributor   TorchDistributor(num_processes=2, local_mode=False)._train_on_dataframe:
                      each partition written to an Arrow file, then read row by row by
                      pyspark.ml.torch's data loader
Prints one JSON line: seconds per job (start to end, everything included) and the ratio.
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
sys.path.insert(0, os.path.join(ROOT, "examples", "mnist", "spark"))  # mnist_parquet
sys.path.insert(0, os.path.join(ROOT, "examples", "mnist", "python"))  # mnist_dist, mnist_spark


def peer_train(epochs, rows_per_process):
    """TorchDistributor's train function: DDP over its partition's Arrow file."""
    import torch
    import torch.distributed as dist
    from pyspark.ml.torch.distributor import _get_spark_partition_data_loader
    torch.set_num_threads(1)
    torch.manual_seed(1)
    dist.init_process_group("gloo")
    model = torch.nn.parallel.DistributedDataParallel(
        torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)))
    opt = torch.optim.Adagrad(model.parameters(), lr=0.01, initial_accumulator_value=0.1)
    loader = _get_spark_partition_data_loader(epochs * rows_per_process, 100, num_workers=0)
    steps = 0
    for images, labels in loader:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images.float().div_(255.0)), labels.long())
        loss.backward()
        opt.step()
        steps += 1
    dist.destroy_process_group()
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--master", default=None)
    a = ap.parse_args()
    # The executors' Python workers run this Python (pyarrow, torch); the session builder does
    # not pass spark.pyspark.python on to them.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    bin_dir = os.path.join(ROOT, "build", "bin")
    work = tempfile.mkdtemp(prefix="tos-bench-td-")
    subprocess.run([os.path.join(bin_dir, "mnist_data_setup"), "--format", "csv2", "--output", work + "/csv2",
                    "--num-partitions", "2"], check=True, stdout=subprocess.DEVNULL)
    state = None
    master = a.master
    script = os.path.join(ROOT, "scripts", "spark_cluster.sh")
    if master is None:
        state = tempfile.mkdtemp(prefix="tos-bench-td-spark-")
        out = subprocess.run(["bash", script, "start", state, "1"], check=True, stdout=subprocess.PIPE,
                             env=dict(os.environ, PYTHON=sys.executable))
        master = out.stdout.decode().strip().splitlines()[-1]
    try:
        from pyspark import SparkConf
        from pyspark.ml.torch.distributor import TorchDistributor
        from pyspark.sql import SparkSession
        import mnist_dist
        import mnist_parquet
        import mnist_spark as py_example
        from torchonspark import TFCluster
        conf = (SparkConf().setMaster(master).setAppName("bench-torch-distributor")
                .set("spark.executor.cores", "1").set("spark.cores.max", "2")
                .set("spark.executor.memory", "1g").set("spark.driver.memory", "1g")
                .set("spark.pyspark.python", sys.executable).set("spark.ui.enabled", "false")
                .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
                # torchrun of Debian's torch 1.13 cannot parse its own default --tee/--redirects
                # ("0") on Python 3.11 (Std.NONE is no longer iterated): give it values it parses.
                .set("spark.executorEnv.PET_TEE", "1").set("spark.executorEnv.PET_REDIRECTS", "2")
                # Lockstep training over feeds needs every trainer fed at once: without this,
                # Spark may run both feed tasks one after the other on the executor that cached
                # both partitions, and the other trainer waits for data that never comes.
                .set("spark.locality.wait", "0"))
        spark = SparkSession.builder.config(conf=conf).getOrCreate()
        sc = spark.sparkContext
        sc.setLogLevel("ERROR")
        sc.addPyFile(os.path.join(ROOT, "examples", "mnist", "python", "mnist_dist.py"))
        lines = spark.read.text(work + "/csv2/train").repartition(2)
        arrays = lines.selectExpr(
            "transform(split(substring_index(value, '|', -1), ','), x -> cast(x as int)) as image",
            "cast(substring_index(value, '|', 1) as int) as label").cache()
        binary = lines.selectExpr(mnist_parquet.IMAGE, mnist_parquet.LABEL).cache()
        rows = arrays.count()
        binary.count()
        result = {"bench": "torch_distributor", "rows": rows, "epochs": a.epochs, "processes": 2}

        def ours(name, df):
            args = py_example.make_parser().parse_args(
                ["--format", "parquet", "--images", "unused", "--strategy", "allreduce", "--epochs", str(a.epochs),
                 "--model", os.path.join(work, name), "--steps", "1000000"])
            start = time.time()
            cluster = TFCluster.run(sc, mnist_dist.map_fun, args, 2, 0, reservation_timeout=120)
            cluster.train(df, a.epochs)
            cluster.shutdown(timeout=600)
            result[name + "_s"] = round(time.time() - start, 1)

        ours("torchonspark", arrays)
        ours("torchonspark_binary", binary)
        start = time.time()
        steps = TorchDistributor(num_processes=2, local_mode=False, use_gpu=False)._train_on_dataframe(
            peer_train, arrays, a.epochs, rows // 2)
        result["torch_distributor_s"] = round(time.time() - start, 1)
        result["torch_distributor_steps_per_process"] = steps
        for name in ("torchonspark", "torchonspark_binary"):
            result["ratio_torch_distributor_to_" + name] = round(result["torch_distributor_s"] / result[name + "_s"], 2)
        print(json.dumps(result))
        spark.stop()
    finally:
        if state:
            subprocess.run(["bash", script, "stop", state])
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
