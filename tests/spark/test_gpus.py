"""Spark's GPU scheduling reaches the nodes: on a standalone cluster whose worker has two GPUs
(fake ones: a discovery script names addresses 0 and 1), an application that asks for one GPU
per executor and per task gets one node per executor, each seeing exactly the address Spark
gave its task as CUDA_VISIBLE_DEVICES, the two different. A cluster of its own: the GPUs are
the worker's settings, and both executors must share that one worker."""

import glob
import os
import subprocess
import sys
import tempfile

import pytest

from conftest import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
PYFUNS_DIR = os.path.join(HERE, "..", "python")
sys.path.insert(0, PYFUNS_DIR)
import pyfuns  # noqa: E402

pytestmark = pytest.mark.timeout(420)

DISCOVERY = """#!/bin/sh
echo '{"name":"gpu","addresses":["0","1"]}'
"""

DRIVER = r"""
import sys
sys.path.insert(0, sys.argv[3])
sys.path.insert(0, sys.argv[4])
from pyspark import SparkConf, SparkContext
from torchonspark import TFCluster
import pyfuns
conf = (SparkConf().setMaster(sys.argv[1]).setAppName("torchonspark-gpu-test")
        .set("spark.executor.cores", "1").set("spark.cores.max", "2").set("spark.executor.memory", "512m")
        .set("spark.driver.memory", "512m").set("spark.pyspark.python", sys.executable)
        .set("spark.driver.host", "127.0.0.1").set("spark.ui.enabled", "false")
        .set("spark.executor.resource.gpu.amount", "1").set("spark.task.resource.gpu.amount", "1"))
sc = SparkContext(conf=conf)
sc.addPyFile(pyfuns.__file__)
cluster = TFCluster.run(sc, pyfuns.report_gpus, {"out": sys.argv[2]}, 2, 0, reservation_timeout=120)
cluster.shutdown(timeout=120)
print("JOB OK", flush=True)
sc.stop()
"""


@pytest.fixture(scope="module")
def gpu_cluster():
    """A master and one worker of 2 cores with spark.worker.resource.gpu.* naming 2 GPUs."""
    state = tempfile.mkdtemp(prefix="tos-spark-gpu-")
    script = os.path.join(state, "gpus.sh")
    with open(script, "w") as f:
        f.write(DISCOVERY)
    os.chmod(script, 0o755)
    cluster_sh = os.path.join(ROOT, "scripts", "spark_cluster.sh")
    env = dict(os.environ, PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1",
               SPARK_WORKER_OPTS="-Dspark.worker.resource.gpu.amount=2 "
                                 "-Dspark.worker.resource.gpu.discoveryScript=" + script)
    try:
        out = subprocess.run(["bash", cluster_sh, "start", state, "2", "1"], env=env, check=True,
                             stdout=subprocess.PIPE, timeout=180)
        yield out.stdout.decode().strip().splitlines()[-1], state, env
    finally:
        subprocess.run(["bash", cluster_sh, "stop", state], env=env, timeout=120)


def test_each_node_sees_the_gpu_spark_gave_its_task(gpu_cluster, tmp_path):
    master, state, env = gpu_cluster
    out = str(tmp_path / "out")
    os.makedirs(out)
    driver = str(tmp_path / "driver.py")
    with open(driver, "w") as f:
        f.write(DRIVER)
    r = subprocess.run([sys.executable, driver, master, out, os.path.join(ROOT, "python"), PYFUNS_DIR],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    text = r.stdout.decode(errors="replace")
    assert r.returncode == 0 and "JOB OK" in text, text[-4000:]

    seen = pyfuns.results(out)
    assert sorted(seen) == ["worker-0", "worker-1"], seen
    visible = [seen[w]["visible"] for w in ("worker-0", "worker-1")]
    assert sorted(visible) == ["0", "1"], seen  # one address each, not the same one
    for w in seen.values():
        # cpu without a real GPU (fake address 0 or 1 is no CUDA device here)
        assert w["device"] in ("cpu", "cuda:0"), w
        if not os.path.exists("/dev/nvidiactl"):
            assert w["device"] == "cpu", w
    # Each node's log says which addresses it got.
    logs = glob.glob(os.path.join(state, "work1", "app-*", "*", "tos_logs", "*.log"))
    said = sorted(line.split(":")[0] for path in logs for line in open(path)
                  if "the GPU addresses Spark gave this task" in line)
    assert said == ["CUDA_VISIBLE_DEVICES=0", "CUDA_VISIBLE_DEVICES=1"], (logs, said)
