"""Misconfigurations are refused with the setting to change (no cluster needed)."""

import os

import pytest

from torchonspark import TorchOnSparkError, executor
from torchonspark.cluster import _spark_checks

pytestmark = pytest.mark.timeout(60)


class FakeConf(dict):
    def get(self, k, d=None):
        return dict.get(self, k, d)


class FakeContext(object):
    def __init__(self, master, **conf):
        self.master = master
        self._conf = FakeConf(conf)

    def getConf(self):
        return self._conf


def test_dynamic_allocation_is_refused():
    sc = FakeContext("spark://x:7077", **{"spark.dynamicAllocation.enabled": "true"})
    with pytest.raises(TorchOnSparkError, match="spark.dynamicAllocation.enabled=false"):
        _spark_checks(sc, 2, 0)


def test_several_tasks_per_executor_is_refused():
    sc = FakeContext("spark://x:7077", **{"spark.executor.cores": "4"})
    with pytest.raises(TorchOnSparkError, match="set spark.task.cpus=4"):
        _spark_checks(sc, 2, 0)


def test_local_master_with_several_nodes_is_refused():
    with pytest.raises(TorchOnSparkError, match="single executor"):
        _spark_checks(FakeContext("local[4]"), 3, 0)


def test_second_node_on_one_executor_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    info = executor.JobInfo("job1", "s" * 32, "/bin/true", None, [], {}, ["worker-0", "worker-1"], None)
    first = executor.start_node(info)(0, iter([]))[0]
    assert "error" not in first and "conflict" not in first
    second = executor.start_node(info)(1, iter([]))[0]
    assert "two nodes of this cluster" in second["conflict"]
    assert executor.local_executor_id("job1") == 0
    assert os.path.exists(os.path.join(str(tmp_path), "tos_logs"))
