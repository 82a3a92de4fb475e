"""The seed's MNIST example on Apache Spark, with the C++ program doing the training.

    spark-submit --master spark://HOST:7077 --conf spark.executor.cores=1 \\
        --conf spark.cores.max=3 --conf spark.executor.memory=1g \\
        examples/mnist/spark/mnist_spark.py --cluster_size 3 \\
        --images mnist_data/train/images --labels mnist_data/train/labels \\
        --format csv --mode train --model mnist_model

Data is loaded with Spark as the seed does (csv: text files + zip, pickle: pickle files + zip,
tfr: the TFRecord files' Example records), with the parts in name order and images paired with
labels by part name (torchonspark.zip_parts), and fed to the nodes; parquet is a DataFrame
(columns image: binary, the 784 pixel bytes, and label: int; mnist_parquet.py makes one) fed
as Arrow record batches, and its inference is a DataFrame of labels and predictions; the C++ program
(--program, default build/bin/mnist_spark of this checkout) runs on every executor and gets
this script's flags as its arguments. Inference writes one prediction per test image with
saveAsTextFile.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))  # a checkout without `pip install ./python`

from pyspark import SparkConf, SparkContext  # noqa: E402

from torchonspark import (InputMode, TFCluster, parquet_parts, pickle_parts, text_parts,  # noqa: E402
                          tfrecord_parts, zip_parts)


def load(sc, args):
    """Records in dataset order: parts by name, image part k paired with label part k."""
    if args.format == "parquet":
        from pyspark.sql import SparkSession
        return parquet_parts(SparkSession(sc), args.images, args.allow_incomplete).select("image", "label")
    if args.format == "tfr":
        return tfrecord_parts(sc, args.images, args.allow_incomplete)
    if args.format == "csv":
        # (image line, label line) as Spark read them: the nodes parse the csv in C++, not
        # Spark's Python workers (784 int() calls a row).
        return zip_parts(sc, args.images, args.labels, text_parts, args.allow_incomplete)
    return zip_parts(sc, args.images, args.labels, pickle_parts, args.allow_incomplete)


def make_parser(num_executors=1):
    parser = argparse.ArgumentParser(
        epilog="Any other flag of the C++ program (--strategy, --model_type, --optimizer, "
               "--learning_rate, --log_dir, --threads, ...) is passed to it unchanged.")
    parser.add_argument("--batch_size", help="number of records per batch", type=int, default=100)
    parser.add_argument("--epochs", help="number of epochs", type=int, default=1)
    parser.add_argument("--format", help="example format: (csv|pickle|tfr|parquet)",
                        choices=["csv", "pickle", "tfr", "parquet"], default="csv")
    parser.add_argument("--images", help="HDFS path to MNIST images in parallelized format")
    parser.add_argument("--labels", help="HDFS path to MNIST labels in parallelized format")
    parser.add_argument("--model", help="HDFS path to save/load model during train/inference", default="mnist_model")
    parser.add_argument("--cluster_size", help="number of nodes in the cluster", type=int, default=num_executors)
    parser.add_argument("--num_ps", help="number of parameter servers", type=int, default=1)
    parser.add_argument("--output", help="HDFS path to save test/inference output", default="predictions")
    parser.add_argument("--readers", help="number of reader/enqueue threads", type=int, default=1)
    parser.add_argument("--steps", help="maximum number of steps", type=int, default=1000)
    parser.add_argument("--tensorboard", help="launch tensorboard process", action="store_true")
    parser.add_argument("--mode", help="train|inference", default="train")
    parser.add_argument("--input_mode", choices=["spark", "tensorflow"], default="spark",
                        help="spark: Spark reads the data and feeds the nodes; tensorflow: the nodes "
                             "read their shards themselves (training on csv2, tfr or parquet)")
    parser.add_argument("--rdma", help="use rdma connection", default=False)
    parser.add_argument("--allow-incomplete", "--allow_incomplete", dest="allow_incomplete",
                        action="store_true",
                        help="read datasets without _SUCCESS or with missing parts (the parts present)")
    parser.add_argument("--node_timeout", type=int, default=60,
                        help="seconds a node may send no heartbeat before the job fails naming it")
    parser.add_argument("--shared_mount", action="store_true",
                        help="local paths (--model, --output, direct mode's data) are on a mount every "
                             "host shares; without it they are refused when the nodes run on several hosts")
    parser.add_argument("--program", help="the C++ program run on every executor",
                        default=os.path.join(ROOT, "build", "bin", "mnist_spark"))
    return parser


def program_args(args, extra):
    """The C++ program's arguments: this script's flags it shares, then every flag this script
    does not know (forwarded unchanged). Nodes read the records Spark sends: "tuple"
    (images.zip(labels)) or "bytes" (tf.train.Example) -- docs/spark.md."""
    num_ps = args.num_ps if args.mode == "train" else 0  # inference needs no parameter servers
    out = ["--mode", args.mode, "--model", args.model, "--batch_size", str(args.batch_size),
           "--epochs", str(args.epochs), "--steps", str(args.steps), "--format", args.format,
           "--input_mode", args.input_mode, "--cluster_size", str(args.cluster_size), "--num_ps", str(num_ps),
           "--node_timeout", str(args.node_timeout), "--readers", str(args.readers)]
    if args.images:
        out += ["--images", args.images]
    if args.labels:
        out += ["--labels", args.labels]
    if args.tensorboard:
        out.append("--tensorboard")
    if args.allow_incomplete:
        out.append("--allow-incomplete")
    if str(args.rdma).lower() not in ("false", "0", "no", ""):
        out.append("--rdma")
    return out + list(extra)


def shared_paths(args, direct):
    """The paths every node must see the same: the model, the predictions, and in direct mode
    the data the nodes read themselves."""
    paths = {"--model": args.model}
    if args.mode == "inference":
        paths["--output"] = args.output
    if direct:
        paths.update({"--images": args.images, "--labels": args.labels})
    return paths


def check_program_args(program, argv):
    """Runs the program's own argument checks on the driver, before any executor starts.
    Returns None, or the program's message."""
    if not os.access(program, os.X_OK):
        return "--program %s does not exist or is not executable" % program
    r = subprocess.run([program] + argv + ["--check_args"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    return None if r.returncode == 0 else r.stdout.decode(errors="replace").strip()


def steps_warning(argv, data):
    """TensorFlowOnSpark's rule: training stops at --steps or after --epochs, whichever comes
    first. The warning the C++ driver prints in local mode when --steps will end training before
    the asked epochs, for the Spark driver's output; None when it will not. The records are
    estimated from the first partition (mnist_data_setup's partitions are of equal size), so
    the check reads one partition, not the dataset."""
    def flag(name, default):
        return argv[argv.index(name) + 1] if name in argv else default
    rdd = getattr(data, "rdd", data)  # a DataFrame's rows, or the RDD itself
    parts = rdd.getNumPartitions()
    if parts == 0:
        return None
    first = rdd.mapPartitionsWithIndex(lambda i, it: [sum(1 for _ in it)] if i == 0 else []).collect()
    per_part = first[0] if first else 0
    records = per_part * parts
    # A global step is one batch of one worker (asynchronous ps) or of every worker (allreduce,
    # synchronous ps).
    strategy = flag("--strategy", "ps")
    num_ps = int(flag("--num_ps", 0)) if strategy == "ps" else 0
    workers = max(1, int(flag("--cluster_size", 1)) - num_ps)
    batch = int(flag("--batch_size", 100))
    per_step = batch * (workers if strategy == "allreduce" or "--sync" in argv else 1)
    epochs, steps = int(flag("--epochs", 1)), int(flag("--steps", 1000))
    needed = -(-epochs * records // per_step)
    if needed <= steps:
        return None
    return ("warning: --steps %d will end training before --epochs %d: about %d records (%d "
            "partitions of %d) need about %d global steps at --batch_size %d; training stops at "
            "whichever comes first. Raise --steps to train every epoch"
            % (steps, epochs, records, parts, per_part, needed, batch))


def main():
    sc = SparkContext(conf=SparkConf().setAppName("mnist_spark"))
    executors = sc.getConf().get("spark.executor.instances")
    num_executors = int(executors) if executors is not None else 1

    parser = make_parser(num_executors)
    args, extra = parser.parse_known_args()
    print("args:", args, "forwarded:", extra)

    if args.mode == "train" and args.format not in ("tfr", "parquet") and not args.labels:
        parser.error("--labels is required for --format %s" % args.format)
    # Local paths without a scheme are taken from where spark-submit runs (a path every host
    # shares); nodes would otherwise resolve them against their executor's directory.
    for flag in ("images", "labels", "model", "output"):
        value = getattr(args, flag)
        if value and "://" not in value and not os.path.isabs(value):
            setattr(args, flag, os.path.abspath(value))
    argv = program_args(args, extra)
    problem = check_program_args(args.program, argv)
    if problem:
        parser.error(problem)
    num_ps = args.num_ps if args.mode == "train" else 0
    direct = args.input_mode == "tensorflow"
    data = None if direct else load(sc, args)
    if data is not None and args.mode == "train":
        warning = steps_warning(argv, data)  # before any node starts, as the C++ driver says it
        if warning:
            print(warning, flush=True)
    cluster = TFCluster.run(sc, args.program, argv, args.cluster_size, num_ps, args.tensorboard,
                            InputMode.TENSORFLOW if direct else InputMode.SPARK, log_dir=args.model,
                            node_timeout=args.node_timeout)
    print("cluster:", json.dumps(cluster.cluster_spec), flush=True)
    try:
        cluster.check_shared_paths(shared_paths(args, direct), args.shared_mount)
        if direct:
            pass  # the nodes read their shards; shutdown() waits for them
        elif args.mode == "train":
            cluster.train(data, args.epochs)
        elif args.format == "parquet":
            # "label prediction" lines, as for the other formats, written by Spark SQL.
            predictions = cluster.inference(data, result="prediction long", columns=["label"])
            predictions.selectExpr("concat(label, ' ', prediction)").write.text(args.output)
        else:
            cluster.inference(data).saveAsTextFile(args.output)
    except BaseException:
        try:
            cluster.shutdown(timeout=30)
        except Exception:  # the first error is the one to report
            pass
        raise
    cluster.shutdown()
    sc.stop()


if __name__ == "__main__":
    main()
