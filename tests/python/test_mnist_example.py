"""The seed's MNIST pair in PyTorch (examples/mnist/python): trained and evaluated in local mode
and with spark-submit on a standalone cluster of its own; each as accurate as the C++
mnist_spark on the same data and epochs (within 0.01), with one prediction per test image in
the test set's order."""

import glob
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("TOS_BIN_DIR", os.path.join(ROOT, "build", "bin"))
EXAMPLE = os.path.join(ROOT, "examples", "mnist", "python", "mnist_spark.py")
CPP = os.path.join(BIN, "mnist_spark")
EPOCHS = "2"

pytestmark = [pytest.mark.timeout(900),
              pytest.mark.skipif(not os.path.exists(CPP), reason="mnist_spark is not built")]


def run(cmd, cwd, timeout=600, env=None):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, env=env)
    text = r.stdout.decode(errors="replace")
    assert r.returncode == 0, text[-4000:]
    return text


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("mnist") / "data")
    run([os.path.join(BIN, "mnist_data_setup"), "--format", "csv", "--output", out, "--num-partitions", "6"], ROOT)
    return out


def labels_in_order(data):
    out = []
    for path in sorted(glob.glob(os.path.join(data, "test", "labels", "part-*"))):
        for line in open(path):
            v = [float(x) for x in line.split(",")]
            out.append(str(v.index(max(v))))
    return out


def accuracy(pred_dir, data):
    pairs = []
    for path in sorted(glob.glob(os.path.join(pred_dir, "part-*"))):
        pairs.extend(line.split() for line in open(path) if line.strip())
    assert len(pairs) == 10000  # one per test image...
    assert [p[0] for p in pairs] == labels_in_order(data)  # ...in the test set's order
    return sum(1 for label, pred in pairs if label == pred) / len(pairs)


def split(data, name):
    return ["--images", os.path.join(data, name, "images"), "--labels", os.path.join(data, name, "labels")]


@pytest.fixture(scope="module")
def cpp_accuracy(data, tmp_path_factory):
    """The C++ mnist_spark in its local mode, ps and allreduce."""
    got = {}
    for strategy, nodes, ps in (("ps", "3", "1"), ("allreduce", "2", "0")):
        work = str(tmp_path_factory.mktemp("cpp-" + strategy))
        model, pred = os.path.join(work, "model"), os.path.join(work, "pred")
        run([CPP, "--mode", "train", "--cluster_size", nodes, "--num_ps", ps, "--strategy", strategy,
             "--input_mode", "spark", "--format", "csv", "--model", model, "--epochs", EPOCHS,
             "--steps", "100000"] + split(data, "train"), work)
        run([CPP, "--mode", "inference", "--cluster_size", "2", "--format", "csv", "--model", model,
             "--output", pred] + split(data, "test"), work)
        got[strategy] = accuracy(pred, data)
    return got


def python_example(args, cwd, env=None, submit=None):
    return run((submit or [sys.executable]) + [EXAMPLE] + args, cwd, env=env)


@pytest.mark.parametrize("strategy,input_mode,allreducer", [
    ("ps", "spark", "ddp"), ("allreduce", "spark", "ddp"), ("allreduce", "spark", "ring"), ("ps", "tensorflow", "ddp")])
def test_local_mode_as_accurate_as_cpp(data, cpp_accuracy, tmp_path, strategy, input_mode, allreducer):
    model, pred = str(tmp_path / "model"), str(tmp_path / "pred")
    nodes = "3" if strategy == "ps" else "2"
    text = python_example(["--local", nodes, "--strategy", strategy, "--allreducer", allreducer,
                           "--input_mode", input_mode, "--mode", "train",
                           "--model", model, "--epochs", EPOCHS, "--steps", "100000"] + split(data, "train"),
                          str(tmp_path))
    if strategy == "allreduce":  # DDP and the ring kept both workers' parameters identical
        sums = [line.split()[-4] for line in text.splitlines() if "parameter checksum" in line]
        assert len(sums) == 2 and sums[0] == sums[1], sums
    python_example(["--local", "2", "--mode", "inference", "--model", model, "--output", pred] + split(data, "test"),
                   str(tmp_path))
    got = accuracy(pred, data)
    print("accuracy: python %s/%s/%s %.4f, c++ %.4f" % (strategy, allreducer, input_mode, got, cpp_accuracy[strategy]))
    assert abs(got - cpp_accuracy[strategy]) <= 0.01


@pytest.fixture(scope="module")
def standalone():
    """A Spark standalone cluster of its own (master + 2 workers of 2 cores on 127.0.0.1)."""
    import pyspark
    state = tempfile.mkdtemp(prefix="tos-spark-py-")
    script = os.path.join(ROOT, "scripts", "spark_cluster.sh")
    env = dict(os.environ, PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    try:
        out = subprocess.run(["bash", script, "start", state, "2"], env=env, check=True, stdout=subprocess.PIPE,
                             timeout=180)
        master = out.stdout.decode().strip().splitlines()[-1]
        submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
        yield master, submit, env
    finally:
        subprocess.run(["bash", script, "stop", state], env=env, timeout=120)


def test_spark_submit_on_a_standalone_cluster(data, cpp_accuracy, standalone, tmp_path):
    master, submit, env = standalone
    env = dict(env, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)

    def spark_submit(cores):
        return [submit, "--master", master, "--conf", "spark.executor.cores=1", "--conf", "spark.cores.max=%d" % cores,
                "--conf", "spark.executor.memory=512m", "--conf", "spark.driver.memory=512m",
                "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false",
                "--py-files", os.path.join(ROOT, "examples", "mnist", "python", "mnist_dist.py")]

    model, pred = str(tmp_path / "model"), str(tmp_path / "pred")
    python_example(["--cluster_size", "3", "--num_ps", "1", "--mode", "train", "--model", model, "--epochs", EPOCHS,
                    "--steps", "100000"] + split(data, "train"), str(tmp_path), env, spark_submit(3))
    assert os.path.isfile(os.path.join(model, "torch", "model.pt"))
    python_example(["--cluster_size", "3", "--mode", "inference", "--model", model, "--output", pred]
                   + split(data, "test"), str(tmp_path), env, spark_submit(3))
    got = accuracy(pred, data)
    print("accuracy: python on spark %.4f, c++ %.4f" % (got, cpp_accuracy["ps"]))
    assert abs(got - cpp_accuracy["ps"]) <= 0.01
