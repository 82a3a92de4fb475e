"""The bridge on a real Spark cluster, driven through the tos_test_app program."""

import os
import re
import time

import pytest

from torchonspark import InputMode, TFCluster, TorchOnSparkError

pytestmark = pytest.mark.timeout(240)


def counts(out, workers):
    total = 0
    for w in range(workers):
        path = os.path.join(out, "count-%d" % w)
        total += int(open(path).read().split()[0])
    return total


def lines(n):
    return ["line-%d,%s" % (i, "x" * (i % 17)) for i in range(n)]


def assert_no_nodes_left(out, n):
    for i in range(n):
        path = os.path.join(out, "pid-%d" % i)
        if not os.path.exists(path):
            continue
        pid = int(open(path).read())
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("node %d (pid %d) outlived the job" % (i, pid))


def test_feed_mode_allreduce_two_executors(sc, app, tmp_path):
    out = str(tmp_path)
    data = sc.parallelize(lines(5000), 6)
    cluster = TFCluster.run(sc, app, ["--out", out, "--scenario", "lifecycle"], num_executors=2, num_ps=0,
                            reservation_timeout=60)
    cluster.train(data, num_epochs=2)
    cluster.shutdown(timeout=60)
    assert counts(out, 2) == 10000
    assert_no_nodes_left(out, 2)


def test_feed_mode_one_ps_two_workers_three_executors(sc, app, tmp_path):
    out = str(tmp_path)
    data = sc.parallelize(lines(3000), 7)
    cluster = TFCluster.run(sc, app, ["--out", out, "--scenario", "lifecycle", "--batch", "50"],
                            num_executors=3, num_ps=1, reservation_timeout=60)
    assert sorted(cluster.cluster_spec) == ["ps", "worker"]
    assert len(cluster.cluster_spec["worker"]) == 2
    cluster.train(data, num_epochs=3)
    cluster.shutdown(timeout=60)
    assert counts(out, 2) == 9000
    assert os.path.exists(os.path.join(out, "stopped-ps-0"))  # the ps got STOP
    assert_no_nodes_left(out, 3)


def test_direct_mode(sc, app, tmp_path):
    out = str(tmp_path)
    data = os.path.join(out, "data")
    os.makedirs(data)
    for p, n in enumerate([30, 20, 10]):
        with open(os.path.join(data, "part-%05d" % p), "w") as f:
            f.write("".join("r%d\n" % i for i in range(n)))
    open(os.path.join(data, "_SUCCESS"), "w").close()
    cluster = TFCluster.run(sc, app, ["--out", out, "--scenario", "direct", "--data", data], num_executors=2,
                            num_ps=0, input_mode=InputMode.TENSORFLOW, reservation_timeout=60)
    cluster.shutdown(timeout=60)
    assert open(os.path.join(out, "count-0")).read().split()[0] == "40"  # shards 0 and 2
    assert open(os.path.join(out, "count-1")).read().split()[0] == "20"  # shard 1


def test_inference_one_result_per_element_in_order(sc, app, tmp_path):
    out = str(tmp_path)
    inputs = lines(2000)
    data = sc.parallelize(inputs, 5)
    cluster = TFCluster.run(sc, app, ["--out", out, "--scenario", "inference", "--batch", "33"], num_executors=3,
                            num_ps=1, reservation_timeout=60)
    results = cluster.inference(data).collect()
    assert results == ["out:" + x for x in inputs]
    # Tuples of numpy arrays and numbers (images.zip(labels)) arrive as "tuple" records.
    import numpy as np
    pairs = sc.parallelize([(np.arange(i % 7, dtype=np.uint8), i) for i in range(300)], 4)
    got = cluster.inference(pairs).collect()
    assert got == ["sum:%d|2" % (sum(range(i % 7)) + i) for i in range(300)]
    lists = sc.parallelize([[1.5, 2.5, i] for i in range(50)], 2)
    assert cluster.inference(lists).collect() == ["sum:%d|1" % int(4 + i) for i in range(50)]
    cluster.shutdown(timeout=60)


def test_terminate_stops_the_feed(sc, app, tmp_path):
    out = str(tmp_path)
    data = sc.parallelize(lines(20000), 4)
    cluster = TFCluster.run(sc, app, ["--out", out, "--scenario", "terminate", "--fail_after", "2", "--fail_worker", "1"],
                            num_executors=2, num_ps=0, reservation_timeout=60)
    cluster.train(data, num_epochs=3)
    cluster.shutdown(timeout=60)
    assert int(open(os.path.join(out, "count-1")).read().split()[0]) == 200


def test_two_named_feeds(sc, app, tmp_path):
    out = str(tmp_path)
    cluster = TFCluster.run(sc, app, ["--out", out, "--scenario", "two_feeds"], num_executors=2, num_ps=0,
                            reservation_timeout=60)
    cluster.train(sc.parallelize(lines(1000), 3), qname="train")
    cluster.train(sc.parallelize(lines(31), 2), qname="validation")
    cluster.shutdown(timeout=60)
    assert counts(out, 2) == 1000
    v = sum(int(open(os.path.join(out, "validation-%d" % w)).read()) for w in range(2))
    assert v == 31


@pytest.mark.parametrize("scenario,expect", [("throw", "simulated failure in batch 2"),
                                             ("kill", "lost its connection")])
def test_a_failing_node_fails_the_job(sc, app, tmp_path, scenario, expect):
    out = str(tmp_path)
    data = sc.parallelize(lines(200000), 8)
    cluster = TFCluster.run(sc, app, ["--out", out, "--scenario", scenario, "--fail_after", "2", "--fail_worker", "1",
                                      "--batch", "10"], num_executors=3, num_ps=1, reservation_timeout=60)
    start = time.time()
    with pytest.raises(TorchOnSparkError) as err:
        cluster.train(data, num_epochs=5)
    took = time.time() - start
    assert "worker:1 (executor 2)" in str(err.value)
    assert expect in str(err.value)
    # The node log is in the executor's work directory, not on the driver: its path is named.
    assert re.search(r"its log: \S*/tos_logs/[0-9a-f]{8}-worker-1\.log on 127\.0\.0\.1", str(err.value)), str(err.value)
    assert took < 30
    with pytest.raises(TorchOnSparkError):
        cluster.shutdown(timeout=30)
    assert_no_nodes_left(out, 3)
    # The context is still usable.
    assert sc.parallelize(range(10), 2).sum() == 45


def test_fewer_executors_than_nodes_is_refused(sc, app, tmp_path):
    with pytest.raises(TorchOnSparkError, match="only 3 Spark executors are registered, the cluster needs 4"):
        TFCluster.run(sc, app, ["--out", str(tmp_path)], num_executors=4, num_ps=1, executor_wait=2)


def stalling_cluster(sc, app, out, feed_timeout_args=()):
    # Worker 1 stops consuming after two batches; tiny queues make its feed tasks block.
    return TFCluster.run(sc, app, ["--out", out, "--scenario", "stall", "--fail_after", "2", "--fail_worker", "1",
                                   "--batch", "10"], num_executors=2, num_ps=0, reservation_timeout=60,
                         node_env={"TOS_FEED_QUEUE_BYTES": "65536"})


def test_feed_timeout_names_the_stalled_node(sc, app, tmp_path):
    out = str(tmp_path)
    cluster = stalling_cluster(sc, app, out)
    with pytest.raises(TorchOnSparkError) as err:
        cluster.train(sc.parallelize(lines(200000), 4), feed_timeout=4)
    assert "feed timeout on 'input': worker:1 (executor 1)" in str(err.value)
    with pytest.raises(TorchOnSparkError):
        cluster.shutdown(timeout=30)
    assert_no_nodes_left(out, 2)


def test_cancelling_the_spark_job_ends_every_node(sc, app, tmp_path):
    import threading
    out = str(tmp_path)
    cluster = stalling_cluster(sc, app, out)
    threading.Timer(4.0, sc.cancelAllJobs).start()
    start = time.time()
    with pytest.raises(TorchOnSparkError, match="cancelled"):
        cluster.train(sc.parallelize(lines(200000), 4), feed_timeout=120)
    assert time.time() - start < 30
    with pytest.raises(TorchOnSparkError):
        cluster.shutdown(timeout=30)
    assert_no_nodes_left(out, 2)


STOP_SCRIPT = r"""
import os, sys, time
sys.path.insert(0, sys.argv[3])
from pyspark import SparkConf, SparkContext
from torchonspark import TFCluster
conf = (SparkConf().setMaster(sys.argv[1]).setAppName("torchonspark-stop-test")
        .set("spark.executor.cores", "1").set("spark.cores.max", "1").set("spark.executor.memory", "512m")
        .set("spark.driver.memory", "512m").set("spark.pyspark.python", sys.executable)
        .set("spark.driver.host", "127.0.0.1").set("spark.ui.enabled", "false"))
sc = SparkContext(conf=conf)
out = sys.argv[2]
cluster = TFCluster.run(sc, os.path.join(sys.argv[4], "tos_test_app"), ["--out", out, "--scenario", "lifecycle"],
                        num_executors=1, num_ps=0, reservation_timeout=60)
print("NODES UP", flush=True)
sc.stop()
time.sleep(3)
"""


def test_stopping_the_spark_context_ends_every_node(spark_master, tmp_path):
    import subprocess
    import sys
    from conftest import BIN, ROOT
    out = str(tmp_path)
    script = os.path.join(out, "stop.py")
    with open(script, "w") as f:
        f.write(STOP_SCRIPT)
    r = subprocess.run([sys.executable, script, spark_master, out, os.path.join(ROOT, "python"), BIN],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
    text = r.stdout.decode(errors="replace")
    assert "NODES UP" in text, text[-3000:]
    assert os.path.exists(os.path.join(out, "pid-0"))
    assert_no_nodes_left(out, 1)
