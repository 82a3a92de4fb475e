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
        self._jsc = None

    def getConf(self):
        return self._conf


def test_an_old_pyspark_and_a_spark_connect_session_are_refused_naming_the_version(monkeypatch):
    import pyspark
    monkeypatch.setattr(pyspark, "__version__", "3.4.1")
    with pytest.raises(TorchOnSparkError, match=r"pyspark 3\.4\.1 is older .* use pyspark 3\.5 or 4"):
        _spark_checks(FakeContext("spark://x:7077"), 2, 0)
    monkeypatch.setattr(pyspark, "__version__", "4.3.0")

    class ConnectSession(object):  # what spark.remote gives: no _jsc, no RDDs
        pass

    with pytest.raises(TorchOnSparkError, match="ConnectSession is not a SparkContext .* pyspark 4.3.0"):
        _spark_checks(ConnectSession(), 2, 0)


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


class FakeTracker(object):
    """SparkContext._jsc.sc().statusTracker() with `executors` registered (and the driver)."""

    def __init__(self, executors):
        self.executors = executors

    def getExecutorInfos(self):
        return [object()] * (self.executors + 1)

    def sc(self):
        return self

    def statusTracker(self):
        return self


def yarn_context(executors=0, **conf):
    sc = FakeContext("yarn", **conf)
    sc._jsc = FakeTracker(executors)
    sc.applicationId = "application_1_0007"
    return sc


def test_yarn_dynamic_allocation_names_the_submit_options():
    sc = yarn_context(**{"spark.dynamicAllocation.enabled": "true"})
    with pytest.raises(TorchOnSparkError,
                       match="--conf spark.dynamicAllocation.enabled=false --num-executors 3"):
        _spark_checks(sc, 3, 0)


def test_yarn_too_few_executor_instances_is_refused_at_once():
    sc = yarn_context(executors=3, **{"spark.executor.instances": "2"})
    with pytest.raises(TorchOnSparkError, match="spark.executor.instances is 2 but .* --num-executors 3"):
        _spark_checks(sc, 3, 30)  # no wait: the tracker has the executors, the setting says otherwise


def test_yarn_default_of_two_executors_is_named():
    with pytest.raises(TorchOnSparkError, match=r"is 2 \(YARN's default\) .* --num-executors 4"):
        _spark_checks(yarn_context(executors=4), 4, 0)


def test_yarn_several_tasks_per_executor_names_executor_cores():
    sc = yarn_context(**{"spark.executor.cores": "4", "spark.executor.instances": "3"})
    with pytest.raises(TorchOnSparkError, match="--executor-cores 1 "):
        _spark_checks(sc, 3, 0)


def test_yarn_executors_that_never_come_name_the_container_size():
    sc = yarn_context(executors=1, **{"spark.executor.instances": "3"})
    with pytest.raises(TorchOnSparkError) as e:
        _spark_checks(sc, 3, 0)
    for text in ("only 1 Spark executors", "spark.executor.memoryOverhead", "yarn.nodemanager.resource.memory-mb",
                 "application_1_0007", "--executor-memory"):
        assert text in str(e.value)


def test_yarn_with_its_executors_passes():
    _spark_checks(yarn_context(executors=3, **{"spark.executor.instances": "3", "spark.executor.cores": "1"}), 3, 0)


def test_second_node_on_one_executor_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    info = executor.JobInfo("job1", "s" * 32, "/bin/true", None, [], {}, ["worker-0", "worker-1"], None)
    first = executor.start_node(info)(0, iter([]))[0]
    assert "error" not in first and "conflict" not in first
    second = executor.start_node(info)(1, iter([]))[0]
    assert "two nodes of this cluster" in second["conflict"]
    assert executor.local_executor_id("job1") == 0
    assert os.path.exists(os.path.join(str(tmp_path), "tos_logs"))


def _cluster_on(hosts, default_fs=""):
    """A Cluster whose nodes registered from `hosts` (no Spark needed for the path check)."""
    import types
    from torchonspark.cluster import Cluster
    c = Cluster()
    c._info = types.SimpleNamespace(nodes=[{"host": h} for h in hosts])
    c._default_fs = default_fs
    c.aborted = []
    c._abort_and_close = c.aborted.append
    return c


def test_local_paths_on_several_hosts_are_refused_and_stop_the_cluster():
    c = _cluster_on(["10.0.0.2", "10.0.0.3", "10.0.0.2"])
    assert c.hosts() == ["10.0.0.2", "10.0.0.3"]
    with pytest.raises(TorchOnSparkError, match=r"--model file:///m is a local path, but the nodes run on 2 hosts "
                                                r"\(10.0.0.2, 10.0.0.3\).*--shared_mount"):
        c.check_shared_paths({"--model": "file:///m", "--output": "hdfs://nn/out"})
    assert len(c.aborted) == 1
    # Without a scheme, a path is local when the nodes' default file system is.
    with pytest.raises(TorchOnSparkError, match="--output /out is a local path"):
        _cluster_on(["a", "b"], "file:///").check_shared_paths({"--output": "/out"})


def test_shared_paths_one_host_and_shared_mounts_are_accepted():
    _cluster_on(["a", "b"]).check_shared_paths({"--model": "hdfs://nn/m", "--images": "webhdfs://nn:9870/d"})
    _cluster_on(["a", "b"], "hdfs://nn:8020").check_shared_paths({"--model": "/user/me/m"})
    _cluster_on(["a", "a"]).check_shared_paths({"--model": "/local/m"})
    c = _cluster_on(["a", "b"])
    c.check_shared_paths({"--model": "/nfs/m", "--output": None}, shared_mount=True)
    assert c.aborted == []
