"""Python training functions on the real standalone cluster: map_fun shipped with cloudpickle,
its module with addPyFile (as spark-submit --py-files does), nodes that are the runtime's
node runner in the executors' Python."""

import os
import sys
import time

import numpy as np
import pytest

from torchonspark import InputMode, TFCluster, TorchOnSparkError

HERE = os.path.dirname(os.path.abspath(__file__))
PYFUNS = os.path.join(HERE, "..", "python", "pyfuns.py")
sys.path.insert(0, os.path.dirname(PYFUNS))
import pyfuns  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def psc(sc):
    sc.addPyFile(os.path.abspath(PYFUNS))
    return sc


results = pyfuns.results


def test_feed_mode_arrays_one_ps_two_workers(psc, tmp_path):
    out = str(tmp_path)
    data = psc.parallelize(range(3000), 6).map(lambda i: (np.full(784, i % 256, dtype=np.uint8), [float(i % 10)] * 10))
    cluster = TFCluster.run(psc, pyfuns.consume, {"out": out, "arrays": True}, 3, 1, reservation_timeout=60)
    cluster.train(data, num_epochs=2)
    cluster.shutdown(timeout=60)
    r = results(out)
    assert sorted(r) == ["worker-0", "worker-1"]
    assert r["worker-0"]["count"] + r["worker-1"]["count"] == 6000
    assert r["worker-0"]["sum"] + r["worker-1"]["sum"] == 2 * 784 * sum(i % 256 for i in range(3000))
    assert r["worker-0"]["shape"][0][1] == 784
    assert r["worker-0"]["ctx"]["cluster_spec"] == cluster.cluster_spec


def test_inference_one_result_per_element_in_order(psc, tmp_path):
    cluster = TFCluster.run(psc, pyfuns.infer, {"out": str(tmp_path)}, 2, 0, reservation_timeout=60)
    data = psc.parallelize([(i, "r%d" % i) for i in range(1500)], 5)
    got = cluster.inference(data).collect()
    cluster.shutdown(timeout=60)
    assert got == ["%d:r%d" % (i, i) for i in range(1500)]


def test_direct_mode_each_trainer_reads_its_shard_in_order(psc, tmp_path):
    out = str(tmp_path)
    pyfuns.write_parts(os.path.join(out, "data"), [30, 20, 10])
    cluster = TFCluster.run(psc, pyfuns.shard_lines, {"out": out, "data": os.path.join(out, "data")}, 2, 0,
                            input_mode=InputMode.TENSORFLOW, reservation_timeout=60)
    cluster.shutdown(timeout=60)
    r = results(out)
    assert r["worker-0"]["lines"] == ["p0-%d" % i for i in range(30)] + ["p2-%d" % i for i in range(10)]
    assert r["worker-1"]["lines"] == ["p1-%d" % i for i in range(20)]


def test_exception_reaches_the_driver_with_node_and_traceback(psc, tmp_path):
    cluster = TFCluster.run(psc, pyfuns.fail, {"out": str(tmp_path)}, 3, 1, reservation_timeout=60)
    start = time.time()
    with pytest.raises(TorchOnSparkError) as e:
        cluster.train(psc.parallelize(["x"] * 30000, 6))
        cluster.shutdown(timeout=60)
    message = str(e.value)
    assert "worker:1 (executor 2) on " in message
    assert "ValueError: deliberate failure in worker 1" in message and "pyfuns.py" in message
    assert time.time() - start < 60


def test_a_module_missing_on_the_executors_says_to_ship_it(psc, tmp_path):
    mod = tmp_path / "unshipped_mod.py"
    mod.write_text("def map_fun(args, ctx):\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import unshipped_mod
        with pytest.raises(TorchOnSparkError) as e:
            cluster = TFCluster.run(psc, unshipped_mod.map_fun, {}, 2, 0, reservation_timeout=60)
            cluster.shutdown(timeout=60)
    finally:
        sys.path.remove(str(tmp_path))
    assert "unshipped_mod" in str(e.value) and "--py-files" in str(e.value)


def test_ddp_two_workers_identical_parameters(psc, tmp_path):
    out = str(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32) + 0.25).reshape(-1, 1)
    cluster = TFCluster.run(psc, pyfuns.ddp, {"out": out, "steps": 30, "batch": 32}, 2, 0, reservation_timeout=60)
    cluster.train(psc.parallelize(list(zip(x, y)), 4), num_epochs=4)
    cluster.shutdown(timeout=120)
    r = results(out)
    assert sorted(r) == ["worker-0", "worker-1"]
    assert r["worker-0"]["params"] == r["worker-1"]["params"] and r["worker-0"]["steps"] == 30


def test_ps_client_one_ps_two_workers(psc, tmp_path):
    out = str(tmp_path)
    cluster = TFCluster.run(psc, pyfuns.ps_linear, {"out": out, "steps": 20}, 3, 1, input_mode=InputMode.TENSORFLOW,
                            reservation_timeout=60)
    cluster.shutdown(timeout=120)
    r = results(out)
    assert [v["global_step"] for v in r.values()] == [40, 40]
    assert r["worker-0"]["final"] == r["worker-1"]["final"]


def test_a_killed_python_node_fails_the_job_naming_it(psc, tmp_path):
    import signal
    out = str(tmp_path)
    cluster = TFCluster.run(psc, pyfuns.hang, {"out": out}, 2, 0, input_mode=InputMode.TENSORFLOW,
                            reservation_timeout=60, node_timeout=10)
    pids = {k: v["pid"] for k, v in pyfuns.wait_for_results(out, 2).items()}
    os.kill(pids["worker-1"], signal.SIGKILL)
    start = time.time()
    with pytest.raises(TorchOnSparkError) as e:
        cluster.shutdown(timeout=120)
    assert "worker:1" in str(e.value)
    assert time.time() - start < 40
    assert pyfuns.wait_gone(pids["worker-0"]), "worker 0 outlived the failed job"


def test_two_named_feeds(psc, tmp_path):
    out = str(tmp_path)
    cluster = TFCluster.run(psc, pyfuns.two_feeds, {"out": out}, 2, 0, reservation_timeout=60)
    cluster.train(psc.parallelize(["a%d" % i for i in range(700)], 4), qname="a")
    cluster.train(psc.parallelize(["b%d" % i for i in range(900)], 3), qname="b")
    cluster.shutdown(timeout=60)
    r = results(out)
    assert sum(v["a"] for v in r.values()) == 700
    assert sum(v["b"] for v in r.values()) == 900


def test_terminate_stops_spark_feeding(psc, tmp_path):
    out = str(tmp_path)
    cluster = TFCluster.run(psc, pyfuns.terminate_early, {"out": out, "take": 40}, 2, 0, reservation_timeout=60)
    start = time.time()
    cluster.train(psc.parallelize(["r%d" % i for i in range(300000)], 6), num_epochs=2)
    cluster.shutdown(timeout=60)
    r = results(out)
    assert [v["count"] for v in r.values()] == [40, 40]
    assert all(v["should_stop"] for v in r.values())
    assert time.time() - start < 120


def test_python_mnist_example_from_tfrecords(psc, tmp_path):
    """The Python example's map_fun on TFRecord data read by Spark (tfrecord_parts): the
    tf.train.Example records are parsed on the nodes in C++ (next_batch_examples)."""
    import subprocess
    from conftest import BIN
    from torchonspark import tfrecord_parts
    data = str(tmp_path / "tfr")
    r = subprocess.run([os.path.join(BIN, "mnist_data_setup"), "--format", "tfr", "--output", data,
                        "--num-partitions", "4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, r.stdout.decode()
    from conftest import load_example
    example = os.path.join(HERE, "..", "..", "examples", "mnist", "python")
    mnist_dist = load_example("examples/mnist/python/mnist_dist.py", "mnist_dist")
    py_example = load_example("examples/mnist/python/mnist_spark.py", "py_mnist_spark")
    psc.addPyFile(os.path.join(example, "mnist_dist.py"))
    model = str(tmp_path / "model")
    args = py_example.make_parser().parse_args(["--format", "tfr", "--images", data + "/train", "--model", model,
                                                "--steps", "100000"])
    cluster = TFCluster.run(psc, mnist_dist.map_fun, args, 3, 1, reservation_timeout=60)
    cluster.train(tfrecord_parts(psc, data + "/train"), num_epochs=1)
    cluster.shutdown(timeout=300)
    assert os.path.isfile(os.path.join(model, "torch", "model.pt"))
    args = py_example.make_parser().parse_args(["--format", "tfr", "--images", data + "/test", "--model", model,
                                                "--mode", "inference"])
    cluster = TFCluster.run(psc, mnist_dist.map_fun, args, 2, 0, reservation_timeout=60)
    predictions = cluster.inference(tfrecord_parts(psc, data + "/test")).collect()
    cluster.shutdown(timeout=120)
    assert len(predictions) == 10000
    pairs = [p.split() for p in predictions]
    accuracy = sum(1 for label, pred in pairs if label == pred) / len(pairs)
    assert accuracy > 0.7, accuracy
    # In the test set's order: the labels of the TFRecord files, file by file.
    assert [int(label) for label, _ in pairs[:5]] == first_labels(data + "/test", 5)


def first_labels(directory, n):
    import glob
    import struct
    path = sorted(glob.glob(os.path.join(directory, "part-*")))[0]
    raw = open(path, "rb").read()
    if path.endswith(".gz"):
        import gzip
        raw = gzip.decompress(raw)
    out, pos = [], 0
    while len(out) < n:
        (length,) = struct.unpack_from("<Q", raw, pos)
        record = raw[pos + 12:pos + 12 + length]
        pos += 12 + length + 4
        out.append(record)
    # The last 10 varint bytes of each record are the one-hot label (mnist_codec's layout).
    return [list(r[-10:]).index(1) for r in out]


def test_without_gpu_scheduling_the_nodes_keep_the_executors_cuda_visible_devices(psc, tmp_path):
    out = str(tmp_path)
    cluster = TFCluster.run(psc, pyfuns.report_gpus, {"out": out}, 2, 0, reservation_timeout=60)
    cluster.shutdown(timeout=60)
    r = results(out)
    assert sorted(r) == ["worker-0", "worker-1"]
    # The executors have the workers' environment, which the suite started from this one.
    assert [w["visible"] for w in r.values()] == [os.environ.get("CUDA_VISIBLE_DEVICES")] * 2, r
