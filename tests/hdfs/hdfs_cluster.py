"""A real HDFS for the tests: scripts/hdfs_cluster.sh (namenode + datanode from Apache Hadoop's
published artifacts, WebHDFS on, on 127.0.0.1), owned by this test process so that nothing is
left running when the process ends, however it ends."""

import json
import os
import subprocess
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "hdfs_cluster.sh")
START_TIMEOUT_S = 420  # the first start on a machine also fetches Hadoop's artifacts


class Hdfs:
    """A started cluster: default_fs (hdfs://127.0.0.1:RPC or hdfs://NAMESERVICE), webhdfs
    (the namenodes' HTTP addresses), conf_dir (a HADOOP_CONF_DIR for clients)."""

    def __init__(self, directory, proc):
        self.dir = directory
        self._proc = proc
        self.default_fs = self.webhdfs = self.conf_dir = None

    def wait(self):
        out, err = self._proc.communicate(timeout=START_TIMEOUT_S)
        if self._proc.returncode != 0:
            raise RuntimeError("HDFS did not start (%s):\n%s" % (self.dir, err.decode(errors="replace")[-4000:]))
        env = dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)
        self.default_fs = env["DEFAULT_FS"]
        self.webhdfs = env["WEBHDFS"].split(",")
        self.conf_dir = env["HADOOP_CONF_DIR"]
        return self

    def env(self, **extra):
        """This process's environment with HADOOP_CONF_DIR pointing at the cluster."""
        e = dict(os.environ, HADOOP_CONF_DIR=self.conf_dir)
        e.pop("TOS_DEFAULT_FS", None)
        e.pop("HADOOP_USER_NAME", None)
        e.update(extra)
        return e

    def control(self, command):
        subprocess.run(["bash", SCRIPT, "control", self.dir, command], check=True, timeout=START_TIMEOUT_S)

    def rest(self, method, path, op, user="root", nn=0, **params):
        """One WebHDFS request to the namenode (for setting up cases tos_fs has no command for,
        such as ownership); returns the decoded JSON answer."""
        query = "&".join("%s=%s" % kv for kv in dict(params, op=op, **{"user.name": user}).items())
        req = urllib.request.Request("http://%s/webhdfs/v1%s?%s" % (self.webhdfs[nn], path, query), method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def stop(self):
        subprocess.run(["bash", SCRIPT, "stop", self.dir], timeout=120)


def start(directory, *extra):
    """Starts a cluster in `directory` and returns at once; call .wait() on the result."""
    proc = subprocess.Popen(["bash", SCRIPT, "start", directory, "--owner-pid", str(os.getpid())] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return Hdfs(directory, proc)
