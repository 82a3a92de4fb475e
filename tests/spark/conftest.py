"""A real Spark standalone cluster on 127.0.0.1 (master + two workers, separate JVMs) for the
whole session, and one Spark application with three 1-core executors on it. The cluster is
stopped at the end of the session, also when tests fail."""

import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("TOS_BIN_DIR", os.path.join(ROOT, "build", "bin"))
sys.path.insert(0, os.path.join(ROOT, "python"))


def pytest_configure(config):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark_master():
    state = os.environ.get("TOS_SPARK_STATE") or tempfile.mkdtemp(prefix="tos-spark-")
    script = os.path.join(ROOT, "scripts", "spark_cluster.sh")
    env = dict(os.environ, PYTHON=sys.executable)
    url = os.environ.get("TOS_SPARK_MASTER")
    started = False
    try:
        if not url:
            started = True
            out = subprocess.run(["bash", script, "start", state, "2"], env=env, check=True,
                                 stdout=subprocess.PIPE, timeout=180)
            url = out.stdout.decode().strip().splitlines()[-1]
        yield url
    finally:
        if started:  # also when the start failed half-way
            subprocess.run(["bash", script, "stop", state], env=env, timeout=120)


@pytest.fixture(scope="session")
def sc(spark_master):
    from pyspark import SparkConf, SparkContext
    conf = (SparkConf().setMaster(spark_master).setAppName("torchonspark-tests")
            .set("spark.executor.cores", "1").set("spark.cores.max", "3")
            .set("spark.executor.memory", "512m").set("spark.driver.memory", "512m")
            .set("spark.pyspark.python", sys.executable)
            .set("spark.driver.host", "127.0.0.1").set("spark.driver.bindAddress", "127.0.0.1")
            .set("spark.ui.enabled", "false").set("spark.task.maxFailures", "2"))
    context = SparkContext(conf=conf)
    context.setLogLevel("WARN")
    try:
        yield context
    finally:
        context.stop()


@pytest.fixture
def app():
    return os.path.join(BIN, "tos_test_app")


def load_example(relative_path, name):
    """A module of the examples, loaded from its file under its own name: both MNIST examples
    have an mnist_spark.py, and whichever a test imported first would stay in sys.modules."""
    import importlib.util
    path = os.path.join(ROOT, relative_path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
