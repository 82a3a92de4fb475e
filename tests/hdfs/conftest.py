"""Two real HDFS clusters for the whole session, started side by side and always stopped: one
namenode (the pipeline, the error cases that leave it running) and an HA nameservice of two
namenodes, the first active (standby failover, then the cases that stop its nodes)."""

import os
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import hdfs_cluster  # noqa: E402

ROOT = hdfs_cluster.ROOT
BIN = os.environ.get("TOS_BIN_DIR", os.path.join(ROOT, "build", "bin"))
USER = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")


@pytest.fixture(scope="session")
def clusters():
    state = tempfile.mkdtemp(prefix="tos-hdfs-")
    started = [hdfs_cluster.start(os.path.join(state, "single")),
               hdfs_cluster.start(os.path.join(state, "ha"), "--ha")]
    try:
        yield [c.wait() for c in started]
    finally:
        for c in started:
            c.stop()


@pytest.fixture(scope="session")
def hdfs(clusters):
    return clusters[0]


@pytest.fixture(scope="session")
def hdfs_ha(clusters):
    return clusters[1]


def run(args, env, timeout=300, cwd=None, check=True):
    """Runs one of the project's programs; returns (exit status, output) and, with check, fails
    the test with the output's end when the exit status is not 0."""
    program = args[0] if os.path.isabs(args[0]) else os.path.join(BIN, args[0])
    r = subprocess.run([program] + list(args[1:]), env=env, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    text = r.stdout.decode(errors="replace")
    if check:
        assert r.returncode == 0, "%s exited %d:\n%s" % (" ".join(args), r.returncode, text[-4000:])
    return r.returncode, text
