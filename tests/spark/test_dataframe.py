"""DataFrames on the real standalone cluster: rows go to the nodes as Arrow record batches
(DataFrame.mapInArrow), are read there as columns, and inference returns a DataFrame."""

import os
import sys

import numpy as np
import pytest

from torchonspark import TFCluster, TorchOnSparkError

HERE = os.path.dirname(os.path.abspath(__file__))
PYFUNS = os.path.join(HERE, "..", "python", "pyfuns.py")
sys.path.insert(0, os.path.dirname(PYFUNS))
import pyfuns  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def spark(sc):
    from pyspark.sql import SparkSession
    sc.addPyFile(os.path.abspath(PYFUNS))
    return SparkSession(sc)


def image_rows(n):
    """(id, image: 16 bytes all equal to id % 256, label)."""
    return [(i, bytes([i % 256]) * 16, i % 10) for i in range(n)]


def frame(spark, n, partitions):
    """The same rows as image_rows, computed by Spark (the same on every evaluation)."""
    return spark.range(0, n, 1, partitions).selectExpr(
        "id", "unhex(repeat(lpad(hex(id % 256), 2, '0'), 16)) as image", "cast(id % 10 as int) as label")


def test_train_feeds_every_row_once_per_epoch_as_columns(spark, tmp_path):
    out = str(tmp_path)
    df = spark.createDataFrame(image_rows(5000), "id long, image binary, label int").coalesce(4)
    cluster = TFCluster.run(spark.sparkContext, pyfuns.consume_columns,
                            {"out": out, "expect": [("image", "binary"), ("label", "int32")]}, 3, 1,
                            reservation_timeout=60)
    cluster.train(df, num_epochs=2)
    cluster.shutdown(timeout=60)
    r = pyfuns.results(out)
    assert sorted(r) == ["worker-0", "worker-1"]
    ids = r["worker-0"]["ids"] + r["worker-1"]["ids"]
    assert sorted(ids) == sorted(list(range(5000)) * 2)
    assert r["worker-0"]["sum"] + r["worker-1"]["sum"] == 2 * 16 * sum(i % 256 for i in range(5000))
    assert r["worker-0"]["shape"][1] == 16


def test_a_partition_bigger_than_the_node_buffers_and_empty_partitions(spark, tmp_path):
    # 21 MB in one partition through a 4 MiB node buffer: one Spark batch is many feed records.
    out = str(tmp_path)
    rows = [(i, bytes([i % 256]) * 70000, 0) for i in range(300)]
    df = spark.createDataFrame(rows, "id long, image binary, label int").coalesce(1)
    df = df.union(df.limit(0)).union(df.filter("id < 0").repartition(3))
    cluster = TFCluster.run(spark.sparkContext, pyfuns.consume_columns, {"out": out, "batch": 7}, 1, 0,
                            reservation_timeout=60, node_env={"TOS_FEED_QUEUE_BYTES": str(4 << 20)})
    cluster.train(df)
    cluster.shutdown(timeout=60)
    r = pyfuns.results(out)["worker-0"]
    assert r["ids"] == list(range(300))
    assert r["shape"] == [300 % 7 or 7, 70000]


def test_inference_returns_a_dataframe_in_order(spark, tmp_path):
    df = frame(spark, 3000, 5)
    cluster = TFCluster.run(spark.sparkContext, pyfuns.infer_columns, {"out": str(tmp_path)}, 2, 0,
                            reservation_timeout=60)
    pred = cluster.inference(df, result="prediction long", columns=["id", "label"])
    assert pred.columns == ["id", "label", "prediction"]
    rows = pred.collect()
    cluster.shutdown(timeout=60)
    assert [r.id for r in rows] == list(range(3000))
    assert all(r.prediction == r.id * 2 + r.id % 256 and r.label == r.id % 10 for r in rows)


def test_nulls_are_refused_naming_the_column_and_row(spark, tmp_path):
    rows = [(i, bytes(16), None if i == 42 else 1) for i in range(100)]
    df = spark.createDataFrame(rows, "id long, image binary, label int").coalesce(1)
    cluster = TFCluster.run(spark.sparkContext, pyfuns.consume_columns, {"out": str(tmp_path)}, 1, 0,
                            reservation_timeout=60)
    with pytest.raises(TorchOnSparkError) as e:
        cluster.train(df)
        cluster.shutdown(timeout=60)
    assert "column 'label' is null in row 42 of Spark partition 0" in str(e.value)


def test_an_unexpected_schema_names_both_schemas(spark, tmp_path):
    df = spark.createDataFrame(image_rows(10), "id long, image binary, label long").coalesce(1)
    cluster = TFCluster.run(spark.sparkContext, pyfuns.consume_columns,
                            {"out": str(tmp_path), "expect": [("image", "binary"), ("label", "int32")]}, 1, 0,
                            reservation_timeout=60)
    with pytest.raises(TorchOnSparkError) as e:
        cluster.train(df)
        cluster.shutdown(timeout=60)
    assert "have the columns (id: int64, image: binary, label: int64); this program expects " \
           "(image: binary, label: int32)" in str(e.value)


def test_a_retried_feed_task_feeds_its_partition_exactly_once_in_order(spark, tmp_path):
    sc = spark.sparkContext
    data = sc.parallelize(range(4000), 2).map(pyfuns.die_in_first_attempt)
    cluster = TFCluster.run(sc, pyfuns.collect_lines, {"out": str(tmp_path)}, 1, 0, reservation_timeout=60)
    cluster.train(data, num_epochs=2)
    cluster.shutdown(timeout=60)
    lines = pyfuns.results(str(tmp_path))["worker-0"]["lines"]
    # Partitions 0-1 are epoch 1, 2-3 epoch 2: every record once per epoch, each partition in order.
    by_partition = {}
    for line in lines:
        p, i, _ = line.split(":")
        by_partition.setdefault(int(p), []).append(int(i))
    for p, first in ((0, 0), (1, 2000), (2, 0), (3, 2000)):
        got = by_partition.get(p, [])
        want = list(range(first, first + 2000))
        bad = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        assert got == want, "partition %d: %d records, first difference at %d: %s" % (
            p, len(got), bad, got[max(0, bad - 2):bad + 3])


def test_dfutil_loads_the_tfrecords_mnist_data_setup_writes(spark, tmp_path):
    import subprocess
    from conftest import BIN
    from torchonspark import dfutil
    data = str(tmp_path / "tfr")
    r = subprocess.run([os.path.join(BIN, "mnist_data_setup"), "--format", "tfr", "--output", data,
                        "--num-partitions", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, r.stdout.decode()
    df = dfutil.load_tfrecords(spark.sparkContext, data + "/test")
    # mnist_data_setup's Examples: image int64 x784, label one-hot int64 x10.
    assert df.schema.simpleString() == "struct<image:array<bigint>,label:array<bigint>>"
    rows = df.collect()
    assert len(rows) == 10000
    assert all(len(r.image) == 784 and 0 <= min(r.image) and max(r.image) <= 255 for r in rows)
    assert all(sorted(r.label) == [0] * 9 + [1] for r in rows)


def test_dfutil_round_trip_keeps_rows_types_and_order(spark, tmp_path):
    from torchonspark import dfutil
    rows = [(i, float(i) / 4, "name-%d" % i, bytes([i % 256, 0, 10]), [i, i + 1, i + 2], ["a", "b%d" % i])
            for i in range(500)]
    df = spark.createDataFrame(rows, "id long, x float, name string, blob binary, vec array<long>, "
                                     "tags array<string>").coalesce(3)
    out = str(tmp_path / "out")
    assert dfutil.save_as_tfrecords(df, out) == 500
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    back = dfutil.load_tfrecords(spark.sparkContext, out, binary_features=["blob"])
    assert back.schema.simpleString() == ("struct<blob:binary,id:bigint,name:string,tags:array<string>,"
                                          "vec:array<bigint>,x:float>")
    got = [(r.id, r.x, r.name, bytes(r.blob), list(r.vec), list(r.tags)) for r in back.collect()]
    assert got == [(i, x, n, b, v, t) for i, x, n, b, v, t in rows]
    with pytest.raises(TorchOnSparkError) as e:
        dfutil.save_as_tfrecords(df, out)
    assert "already holds a dataset" in str(e.value)


@pytest.mark.parametrize("image", ["binary", "array"])
def test_python_mnist_example_on_a_dataframe(spark, tmp_path, image):
    """The Python example's map_fun (1 ps + 2 workers) trained on an MNIST DataFrame (image: binary, the 784
    bytes, or array<int>; label: int), then DataFrame inference: 10,000 predictions in the
    test set's order, as accurate as with RDDs."""
    import subprocess
    from conftest import BIN, load_example
    root = os.path.join(HERE, "..", "..")
    mnist_parquet = load_example("examples/mnist/spark/mnist_parquet.py", "mnist_parquet")
    mnist_dist = load_example("examples/mnist/python/mnist_dist.py", "mnist_dist")
    py_example = load_example("examples/mnist/python/mnist_spark.py", "py_mnist_spark")
    sc = spark.sparkContext
    sc.addPyFile(os.path.join(root, "examples", "mnist", "python", "mnist_dist.py"))
    csv2 = str(tmp_path / "csv2")
    r = subprocess.run([os.path.join(BIN, "mnist_data_setup"), "--format", "csv2", "--output", csv2,
                        "--num-partitions", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, r.stdout.decode()
    pixels = mnist_parquet.IMAGE if image == "binary" else \
        "transform(split(substring_index(value, '|', -1), ','), x -> cast(x as int)) as image"

    def frame(split):
        from torchonspark import part_files
        import functools
        parts = part_files(sc, os.path.join(csv2, split))
        lines = functools.reduce(lambda a, b: a.union(b), [spark.read.text(uri) for _, uri in parts])
        return lines.selectExpr(pixels, mnist_parquet.LABEL)

    model = str(tmp_path / "model")
    args = py_example.make_parser().parse_args(["--format", "parquet", "--images", "unused", "--model", model,
                                                "--strategy", "ps", "--steps", "100000"])
    cluster = TFCluster.run(sc, mnist_dist.map_fun, args, 3, 1, reservation_timeout=60)
    cluster.train(frame("train"), 1)
    cluster.shutdown(timeout=300)
    args = py_example.make_parser().parse_args(["--format", "parquet", "--images", "unused", "--model", model,
                                                "--mode", "inference"])
    cluster = TFCluster.run(sc, mnist_dist.map_fun, args, 2, 0, reservation_timeout=60)
    test = frame("test")
    rows = cluster.inference(test, result="prediction long", columns=["label"]).collect()
    cluster.shutdown(timeout=120)
    assert [r.label for r in rows] == [r.label for r in test.collect()]
    accuracy = sum(1 for r in rows if r.label == r.prediction) / len(rows)
    print("accuracy, Python example on a DataFrame with %s images: %.4f" % (image, accuracy))
    assert len(rows) == 10000 and accuracy > 0.7, (len(rows), accuracy)
