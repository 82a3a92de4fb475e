"""Spark's feed mode over a dataset on a real HDFS: the executors read the hdfs:// csv parts
through Spark's own Hadoop client (pyspark's jars), the nodes write the model to HDFS through
WebHDFS, and inference on the test split gives one prediction per image, in order."""

import os
import re
import subprocess
import sys
import tempfile

import pytest

from conftest import BIN, ROOT
from torchonspark import InputMode, TFCluster, text_parts, zip_parts

sys.path.insert(0, os.path.join(ROOT, "tests", "hdfs"))
import hdfs_cluster  # noqa: E402

pytestmark = pytest.mark.timeout(900)
MNIST = os.path.join(BIN, "mnist_spark")
USER = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")


@pytest.fixture(scope="module")
def hdfs():
    cluster = hdfs_cluster.start(tempfile.mkdtemp(prefix="tos-spark-hdfs-"))
    try:
        yield cluster.wait()
    finally:
        cluster.stop()


def tos_fs(hdfs, *args):
    r = subprocess.run([os.path.join(BIN, "tos_fs")] + list(args), env=hdfs.env(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    return r.stdout.decode()


@pytest.fixture(scope="module")
def data(hdfs):
    """The csv dataset on HDFS, 3 parts."""
    uri = "%s/user/%s/mnist/csv" % (hdfs.default_fs, USER)
    r = subprocess.run([os.path.join(BIN, "mnist_data_setup"), "--format", "csv", "--output", uri,
                        "--num-partitions", "3"], env=hdfs.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    assert r.returncode == 0, r.stdout.decode()
    return uri


def checkpoint_steps(hdfs, model):
    return [int(s) for s in re.findall(r"ckpt-(\d{12})\.tosckpt", tos_fs(hdfs, "ls", model))]


@pytest.mark.skipif(not os.path.exists(MNIST), reason="mnist_spark is not built (TOS_WITH_TORCH=OFF)")
def test_feed_mode_trains_from_an_hdfs_dataset(sc, hdfs, data):

    def parsed(split):
        pairs = zip_parts(sc, data + "/" + split + "/images", data + "/" + split + "/labels", text_parts)
        assert pairs.getNumPartitions() == 3
        return pairs.map(lambda p: ([int(x) for x in p[0].split(",")], [float(x) for x in p[1].split(",")]))

    # The nodes reach HDFS with the cluster's configuration, as on YARN.
    node_env = {"HADOOP_CONF_DIR": hdfs.conf_dir}
    model = data.rsplit("/", 1)[0] + "/model"
    common = ["--format", "csv", "--model", model, "--input_mode", "spark", "--cluster_size", "3"]
    cluster = TFCluster.run(sc, MNIST, common + ["--mode", "train", "--num_ps", "1"], num_executors=3, num_ps=1,
                            reservation_timeout=120, node_env=node_env)
    cluster.train(parsed("train"), num_epochs=1)
    cluster.shutdown(timeout=600)
    steps = checkpoint_steps(hdfs, model)
    assert steps and max(steps) >= 500, steps  # one epoch of 60,000 in batches of 100, 2 workers
    assert "model.json" in tos_fs(hdfs, "ls", model + "/export")

    cluster = TFCluster.run(sc, MNIST, common + ["--mode", "inference", "--num_ps", "0"], num_executors=3, num_ps=0,
                            reservation_timeout=120, node_env=node_env)
    predictions = cluster.inference(parsed("test")).collect()
    cluster.shutdown(timeout=300)
    assert len(predictions) == 10000
    labels = []
    for line in tos_fs(hdfs, "cat", *["%s/test/labels/part-%05d" % (data, i) for i in range(3)]).splitlines():
        v = [float(x) for x in line.split(",")]
        labels.append(str(v.index(max(v))))
    pairs = [p.split() for p in predictions]
    assert [label for label, _ in pairs] == labels
    accuracy = sum(1 for label, pred in pairs if label == pred) / len(pairs)
    assert accuracy >= 0.74, accuracy


@pytest.mark.skipif(not os.path.exists(MNIST), reason="mnist_spark is not built (TOS_WITH_TORCH=OFF)")
def test_direct_mode_nodes_read_the_hdfs_dataset_themselves(sc, hdfs, data):
    """Allreduce on 2 executors, each node reading its shard of the hdfs:// parts over WebHDFS."""
    model = data.rsplit("/", 1)[0] + "/model_direct"
    args = ["--format", "csv", "--model", model, "--input_mode", "tensorflow", "--cluster_size", "2",
            "--strategy", "allreduce", "--num_ps", "0", "--images", data + "/train/images",
            "--labels", data + "/train/labels", "--mode", "train"]
    cluster = TFCluster.run(sc, MNIST, args, num_executors=2, num_ps=0, input_mode=InputMode.TENSORFLOW,
                            reservation_timeout=120, node_env={"HADOOP_CONF_DIR": hdfs.conf_dir})
    cluster.shutdown(timeout=600)
    # One epoch in lockstep, batches of 100 on each worker: the shards are parts {0, 2} and {1}
    # (40,000 and 20,000 images), so at least the smaller shard's 200 steps.
    assert max(checkpoint_steps(hdfs, model)) >= 200
    assert "model.json" in tos_fs(hdfs, "ls", model + "/export")
