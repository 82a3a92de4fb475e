"""The seed's mnist_spark.py in PyTorch: TFCluster.run with the Python map_fun of mnist_dist.py.

    spark-submit --master spark://HOST:7077 --conf spark.executor.cores=1 \\
        --conf spark.cores.max=3 --py-files examples/mnist/python/mnist_dist.py \\
        examples/mnist/python/mnist_spark.py --cluster_size 3 \\
        --images mnist_data/csv/train/images --labels mnist_data/csv/train/labels \\
        --mode train --model mnist_model

Data is the csv layout of mnist_data_setup (--format csv; --format pickle or tfr for its
pickle or TFRecord layouts, read by Spark). With --input_mode spark (the default) Spark reads
it and feeds (image line, label line) pairs, which the nodes parse in C++ (as they parse
tf.train.Example records); with --input_mode tensorflow each trainer reads its own shard. --local N runs the same job on this machine with no Spark
(torchonspark.local, N nodes); the driver then reads the csv files itself to feed them.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))  # a checkout without `pip install ./python`
sys.path.insert(0, HERE)

import mnist_dist  # noqa: E402
from torchonspark import InputMode  # noqa: E402


def make_parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", help="number of records per batch", type=int, default=100)
    parser.add_argument("--epochs", help="number of epochs", type=int, default=1)
    parser.add_argument("--format", choices=["csv", "pickle", "tfr", "parquet"], default="csv",
                        help="example format: csv, or (read by Spark) pickle, tfr or parquet (a DataFrame "
                             "with columns image: binary and label: int; --images only)")
    parser.add_argument("--images", help="HDFS path to MNIST images in parallelized format")
    parser.add_argument("--labels", help="HDFS path to MNIST labels in parallelized format")
    parser.add_argument("--model", help="HDFS path to save/load model during train/inference", default="mnist_model")
    parser.add_argument("--cluster_size", help="number of nodes in the cluster", type=int, default=1)
    parser.add_argument("--num_ps", help="number of parameter servers", type=int, default=1)
    parser.add_argument("--output", help="HDFS path to save test/inference output", default="predictions")
    parser.add_argument("--readers", help="number of reader/enqueue threads", type=int, default=1)
    parser.add_argument("--steps", help="maximum number of steps", type=int, default=1000)
    parser.add_argument("--tensorboard", help="launch tensorboard process", action="store_true")
    parser.add_argument("--mode", help="train|inference", choices=["train", "inference"], default="train")
    parser.add_argument("--strategy", choices=["ps", "allreduce"], default="ps",
                        help="parameter servers (the runtime's) or allreduce (DistributedDataParallel)")
    parser.add_argument("--allreducer", choices=["ddp", "ring"], default="ddp",
                        help="allreduce: DistributedDataParallel over Gloo, or the runtime's C++ TCP ring")
    parser.add_argument("--input_mode", choices=["spark", "tensorflow"], default="spark",
                        help="spark: Spark feeds the records; tensorflow: each trainer reads its shard")
    parser.add_argument("--learning_rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--node_timeout", type=int, default=60,
                        help="seconds a node may send no heartbeat before the job fails naming it")
    parser.add_argument("--shared_mount", action="store_true",
                        help="local paths (--model, direct mode's data) are on a mount every host "
                             "shares; without it they are refused when the nodes run on several hosts")
    parser.add_argument("--local", type=int, default=0, metavar="N",
                        help="run on this machine with N nodes and no Spark (torchonspark.local)")
    return parser


def check(parser, args):
    if not args.images or (not args.labels and args.format not in ("tfr", "parquet")):
        parser.error("--images and --labels are required (--images only for --format tfr or parquet)")
    if args.mode == "inference" and args.input_mode != "spark":
        parser.error("inference reads fed records: use --input_mode spark")
    if args.format != "csv" and (args.local or args.input_mode != "spark"):
        parser.error("--format %s is read by Spark (--input_mode spark, not --local): trainers and "
                     "the local driver read the csv layout" % args.format)
    # Local paths are taken from where the job is started (a path every host shares); nodes
    # would otherwise resolve them against their executor's directory.
    for flag in ("images", "labels", "model", "output"):
        value = getattr(args, flag)
        if value and "://" not in value and not os.path.isabs(value):
            setattr(args, flag, os.path.abspath(value))


def num_ps(args):
    return args.num_ps if args.mode == "train" and args.strategy == "ps" else 0


def spark_data(sc, args):
    from torchonspark import parquet_parts, pickle_parts, text_parts, tfrecord_parts, zip_parts
    if args.format == "parquet":  # a DataFrame, fed as Arrow record batches
        from pyspark.sql import SparkSession
        return parquet_parts(SparkSession(sc), args.images).select("image", "label")
    if args.format == "tfr":  # serialized tf.train.Example records, parsed on the nodes in C++
        return tfrecord_parts(sc, args.images)
    if args.format == "pickle":  # what mnist_data_setup --format pickle (saveAsPickleFile) wrote
        return zip_parts(sc, args.images, args.labels, pickle_parts)
    # (image line, label line) as Spark read them: the nodes parse the csv in C++
    # (next_batch_arrays(csv=True)), not Spark's Python workers, 784 int() calls a row.
    return zip_parts(sc, args.images, args.labels, text_parts)


def local_data(args):
    """(image, label) tuples in dataset order, read on the driver."""
    import numpy as np
    from torchonspark import _native
    tos = _native.load()

    def rows(path):
        shard, out = tos.TextShard(path, 0, 1), []
        while True:
            batch = shard.next_batch_csv(8192)  # parsed in C++
            if len(batch) == 0:
                return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
            out.append(batch)
    images = rows(args.images).astype(np.uint8)
    labels = rows(args.labels)
    if len(images) != len(labels):
        raise SystemExit("%d images but %d labels" % (len(images), len(labels)))
    return list(zip(images, labels))


def run_job(cluster, work):
    """work(), then the cluster's shutdown; when work fails, its error is the one raised."""
    try:
        work()
    except BaseException:
        try:
            cluster.shutdown(timeout=30)
        except Exception:  # the first error is the one to report
            pass
        raise
    cluster.shutdown()


def run_local(args):
    from torchonspark import local
    mode = InputMode.SPARK if args.input_mode == "spark" else InputMode.TENSORFLOW
    cluster = local.run(mnist_dist.map_fun, args, args.local, num_ps(args), args.tensorboard, mode,
                        log_dir=os.path.join(args.model, "logs"), node_timeout=args.node_timeout)

    def work():
        if args.mode == "train":
            if mode == InputMode.SPARK:
                cluster.train(local_data(args), args.epochs)
        else:
            cluster.inference(local_data(args), output_dir=args.output)
    run_job(cluster, work)


def run_spark(args):
    from pyspark import SparkConf, SparkContext
    from torchonspark import TFCluster
    sc = SparkContext(conf=SparkConf().setAppName("mnist_spark (Python)"))
    sc.addPyFile(os.path.join(HERE, "mnist_dist.py"))  # as --py-files would
    executors = sc.getConf().get("spark.executor.instances")
    if args.cluster_size <= 1 and executors is not None:
        args.cluster_size = int(executors)
    mode = InputMode.SPARK if args.input_mode == "spark" else InputMode.TENSORFLOW
    cluster = TFCluster.run(sc, mnist_dist.map_fun, args, args.cluster_size, num_ps(args), args.tensorboard,
                            mode, log_dir=args.model, node_timeout=args.node_timeout)

    def work():
        paths = {"--model": args.model}
        if args.mode == "inference":
            paths["--output"] = args.output
        if mode == InputMode.TENSORFLOW:
            paths.update({"--images": args.images, "--labels": args.labels})
        cluster.check_shared_paths(paths, args.shared_mount)
        if args.mode == "train":
            if mode == InputMode.SPARK:
                cluster.train(spark_data(sc, args), args.epochs)
        else:
            if args.format == "parquet":  # a DataFrame of labels and predictions, written by Spark SQL
                cluster.inference(spark_data(sc, args), result="prediction long", columns=["label"]) \
                    .selectExpr("concat(label, ' ', prediction)").write.text(args.output)
            else:
                cluster.inference(spark_data(sc, args)).saveAsTextFile(args.output)
    run_job(cluster, work)
    sc.stop()


def main():
    parser = make_parser()
    args = parser.parse_args()
    check(parser, args)
    print("args:", args, flush=True)
    if args.local:
        run_local(args)
    else:
        run_spark(args)


if __name__ == "__main__":
    main()
