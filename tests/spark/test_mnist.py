"""The seed's MNIST pipeline on Spark with the C++ mnist_spark: train in feed mode (1 ps + 2
workers on 3 executors, images paired with labels part by part), then inference returning one
prediction per test image, in the test set's order, as accurate as the same job in local mode
(within 0.01)."""

import os
import re
import subprocess
import time

import pytest

from conftest import BIN
from torchonspark import InputMode, TFCluster, TorchOnSparkError, text_parts, zip_parts

pytestmark = pytest.mark.timeout(900)

MNIST = os.path.join(BIN, "mnist_spark")


@pytest.fixture(scope="module")
def mnist_csv(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("mnist") / "data")
    r = subprocess.run([os.path.join(BIN, "mnist_data_setup"), "--format", "csv", "--output", out,
                        "--num-partitions", "6"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, r.stdout.decode()
    return out


def local_accuracy(data, work):
    common = ["--cluster_size", "3", "--format", "csv", "--model", os.path.join(work, "model")]
    for mode, split, extra in (("train", "train", []), ("inference", "test", ["--output", os.path.join(work, "pred")])):
        r = subprocess.run([MNIST, "--mode", mode, "--images", os.path.join(data, split, "images"),
                            "--labels", os.path.join(data, split, "labels")] + common + extra,
                           cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=400)
        text = r.stdout.decode(errors="replace")
        assert r.returncode == 0, text[-3000:]
    return float(re.search(r"accuracy: ([0-9.]+)", text).group(1))


def zipped(sc, data, split):
    """(image line, label line) pairs as Spark read them: mnist_spark parses them in C++."""
    return zip_parts(sc, os.path.join(data, split, "images"), os.path.join(data, split, "labels"), text_parts)


def labels_in_order(data, split):
    """The test set's labels as digits, parts in name order, read without Spark."""
    d = os.path.join(data, split, "labels")
    out = []
    for name in sorted(n for n in os.listdir(d) if n.startswith("part-")):
        with open(os.path.join(d, name)) as f:
            for line in f:
                v = [float(x) for x in line.split(",")]
                out.append(str(v.index(max(v))))
    return out


@pytest.mark.skipif(not os.path.exists(MNIST), reason="mnist_spark is not built (TOS_WITH_TORCH=OFF)")
def test_mnist_on_spark_is_as_accurate_as_local_mode(sc, mnist_csv, tmp_path):
    local = str(tmp_path / "local")
    os.makedirs(local)
    want = local_accuracy(mnist_csv, local)

    model = str(tmp_path / "spark_model")
    common = ["--format", "csv", "--model", model, "--input_mode", "spark", "--cluster_size", "3"]
    cluster = TFCluster.run(sc, MNIST, common + ["--mode", "train", "--num_ps", "1"], num_executors=3, num_ps=1,
                            reservation_timeout=120)
    cluster.train(zipped(sc, mnist_csv, "train"), num_epochs=1)
    cluster.shutdown(timeout=600)
    assert os.path.isdir(os.path.join(model, "export"))

    cluster = TFCluster.run(sc, MNIST, common + ["--mode", "inference", "--num_ps", "0"], num_executors=3, num_ps=0,
                            reservation_timeout=120)
    predictions = cluster.inference(zipped(sc, mnist_csv, "test")).collect()
    cluster.shutdown(timeout=300)
    assert len(predictions) == 10000  # one per test image
    pairs = [p.split() for p in predictions]
    # In the test set's order: the label column is the test labels, part by part.
    assert [label for label, _ in pairs] == labels_in_order(mnist_csv, "test")
    got = sum(1 for label, pred in pairs if label == pred) / len(pairs)
    print("accuracy: spark %.4f, local %.4f" % (got, want))
    assert got >= want - 0.01


@pytest.mark.skipif(not os.path.exists(MNIST), reason="mnist_spark is not built (TOS_WITH_TORCH=OFF)")
def test_mnist_from_parquet_as_a_dataframe(sc, mnist_csv, tmp_path):
    """The C++ example on a Parquet dataset (image: binary, label: int) that Spark wrote:
    trained in feed mode from a DataFrame and, separately, in direct mode (each worker reads
    its row groups); each model's DataFrame inference written as text in the test set's order,
    through the example script's own functions."""
    from pyspark.sql import SparkSession
    from conftest import load_example
    mnist_parquet = load_example("examples/mnist/spark/mnist_parquet.py", "mnist_parquet")
    cxx_example = load_example("examples/mnist/spark/mnist_spark.py", "cxx_mnist_spark")
    spark = SparkSession(sc)
    csv2 = str(tmp_path / "csv2")
    r = subprocess.run([os.path.join(BIN, "mnist_data_setup"), "--format", "csv2", "--output", csv2,
                        "--num-partitions", "5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, r.stdout.decode()
    data = str(tmp_path / "parquet")
    for split in ("train", "test"):
        mnist_parquet.convert_split(spark, os.path.join(csv2, split), os.path.join(data, split))
    for input_mode in ("spark", "tensorflow"):
        model, output = str(tmp_path / ("model-" + input_mode)), str(tmp_path / ("pred-" + input_mode))
        for mode, split in (("train", "train"), ("inference", "test")):
            args, extra = cxx_example.make_parser(3).parse_known_args(
                ["--format", "parquet", "--images", os.path.join(data, split), "--mode", mode, "--model", model,
                 "--output", output, "--epochs", "2",
                 "--input_mode", input_mode if mode == "train" else "spark"])
            argv = cxx_example.program_args(args, extra)
            assert cxx_example.check_program_args(MNIST, argv) is None
            num_ps = 1 if mode == "train" else 0
            direct = args.input_mode == "tensorflow"
            cluster = TFCluster.run(sc, MNIST, argv, 3, num_ps, reservation_timeout=120,
                                    input_mode=InputMode.TENSORFLOW if direct else InputMode.SPARK)
            if direct:
                pass  # each worker reads its row groups itself
            elif mode == "train":
                cluster.train(cxx_example.load(sc, args), 2)
            else:
                cluster.inference(cxx_example.load(sc, args), result="prediction long", columns=["label"]) \
                    .selectExpr("concat(label, ' ', prediction)").write.text(output)
            cluster.shutdown(timeout=300)
        pairs = [line.split() for name in sorted(os.listdir(output)) if name.startswith("part-")
                 for line in open(os.path.join(output, name))]
        assert len(pairs) == 10000
        assert [label for label, _ in pairs] == labels_in_order(mnist_csv, "test")
        accuracy = sum(1 for label, pred in pairs if label == pred) / len(pairs)
        print("accuracy from Parquet, trained with input mode %s: %.4f" % (input_mode, accuracy))
        assert accuracy >= 0.74, (input_mode, accuracy)


@pytest.mark.skipif(not os.path.exists(MNIST), reason="mnist_spark is not built (TOS_WITH_TORCH=OFF)")
def test_device_cuda_without_a_gpu_fails_the_job_as_the_nodes_start(sc, tmp_path):
    """On Spark the nodes are the first to see their GPUs: a trainer without one fails the job
    at once, naming the flag and what is missing (CUDA_VISIBLE_DEVICES="" hides any GPU)."""
    argv = ["--format", "csv", "--images", str(tmp_path / "none"), "--labels", str(tmp_path / "none"),
            "--model", str(tmp_path / "model"), "--input_mode", "tensorflow", "--cluster_size", "2",
            "--num_ps", "0", "--strategy", "allreduce", "--device", "cuda"]
    start = time.time()
    with pytest.raises(TorchOnSparkError,
                       match=r"--device cuda: (this libtorch has no CUDA|no CUDA device visible)"):
        cluster = TFCluster.run(sc, MNIST, argv, 2, 0, input_mode=InputMode.TENSORFLOW, reservation_timeout=120,
                                node_env={"CUDA_VISIBLE_DEVICES": ""})
        cluster.shutdown(timeout=120)
    assert time.time() - start < 120
    assert not os.path.exists(str(tmp_path / "model" / "export"))
