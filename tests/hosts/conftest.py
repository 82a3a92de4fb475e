"""Four hosts on this machine (scripts/hosts.sh: network namespaces joined by a bridge, each with
its own address), started once for the session and always removed:

  host 1 (10.215.0.1): the Spark master, HDFS (namenode + datanode) and the driver
  hosts 2-4: one Spark worker each (1 core, so one executor each)

Spark's and HDFS's daemons bind to their host's address (SPARK_LOCAL_IP, as on a multi-homed
machine); jobs are submitted with spark-submit from host 1, as a user would."""

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("TOS_BIN_DIR", os.path.join(ROOT, "build", "bin"))
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
HOSTS = os.path.join(ROOT, "scripts", "hosts.sh")
WORKERS = 3
# Fixed ports: each host has ports of its own, so the firewall test can name them.
MASTER_PORT, MASTER_UI, WORKER_PORT, WORKER_UI = 7077, 8080, 7078, 8081
BLOCK_MANAGER_PORT, DRIVER_PORT, DRIVER_BLOCK_MANAGER_PORT = 7079, 7080, 7081


class Hosts(object):
    """hosts.sh's hosts: ns(k), addr(k), dir(k) for k = 1..n; on(k, argv) runs argv there."""

    def __init__(self, directory, n):
        self.dir = directory
        out = subprocess.run(["bash", HOSTS, "up", str(n), directory, "--owner-pid", str(os.getpid())],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("hosts.sh up failed:\n" + out.stdout.decode(errors="replace"))
        self.env = dict(line.split("=", 1) for line in out.stdout.decode().splitlines() if "=" in line)
        self.n = n

    def ns(self, k):
        return self.env["HOST%d_NS" % k]

    def addr(self, k):
        return self.env["HOST%d_ADDR" % k]

    def host_dir(self, k):
        return self.env["HOST%d_DIR" % k]

    def on(self, k, argv):
        return ["ip", "netns", "exec", self.ns(k)] + list(argv)

    def cut(self, k):
        subprocess.run(["bash", HOSTS, "cut", self.dir, str(k)], check=True, timeout=30)

    def restore(self, k):
        subprocess.run(["bash", HOSTS, "restore", self.dir, str(k)], check=True, timeout=30)

    def pids(self, k):
        r = subprocess.run(["ip", "netns", "pids", self.ns(k)], stdout=subprocess.PIPE, timeout=30)
        return [int(p) for p in r.stdout.split()]

    def down(self):
        subprocess.run(["bash", HOSTS, "down", self.dir], timeout=120)


def spark_home():
    r = subprocess.run([PYTHON, "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"],
                       stdout=subprocess.PIPE, check=True, timeout=60)
    return r.stdout.decode().strip()


def wait_for_text(path, text, seconds, proc=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(path) and text in open(path, errors="replace").read():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.3)
    tail = open(path, errors="replace").read()[-3000:] if os.path.exists(path) else "(no file)"
    raise RuntimeError("no '%s' in %s after %d s:\n%s" % (text, path, seconds, tail))


class Cluster(object):
    """The session's hosts with Spark and HDFS on them."""

    def __init__(self, hosts, hdfs_env, spark_home_dir):
        self.hosts = hosts
        self.default_fs = hdfs_env["DEFAULT_FS"]
        self.hadoop_conf = hdfs_env["HADOOP_CONF_DIR"]
        self.spark_home = spark_home_dir
        self.master = "spark://%s:%d" % (hosts.addr(1), MASTER_PORT)

    def env(self, **extra):
        """The environment of a process on host 1: Spark and Hadoop clients bound to its address."""
        e = dict(os.environ, SPARK_HOME=self.spark_home, SPARK_LOCAL_IP=self.hosts.addr(1),
                 HADOOP_CONF_DIR=self.hadoop_conf, PYSPARK_PYTHON=PYTHON, PYTHONDONTWRITEBYTECODE="1")
        for k in ("TOS_SERVER_HOST", "TOS_SERVER_PORT", "TOS_NODE_PORT", "TOS_FEED_PORT", "TOS_DEFAULT_FS"):
            e.pop(k, None)
        e.update(extra)
        return e

    def run(self, argv, timeout=300, check=True, **env):
        """A program of this checkout (BIN) or any command, on host 1; (exit status, output)."""
        if not os.path.isabs(argv[0]) and os.path.exists(os.path.join(BIN, argv[0])):
            argv = [os.path.join(BIN, argv[0])] + list(argv[1:])
        r = subprocess.run(self.hosts.on(1, argv), env=self.env(**env), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, cwd=self.hosts.host_dir(1) + "/work")
        text = r.stdout.decode(errors="replace")
        if check:
            assert r.returncode == 0, "%s exited %d:\n%s" % (" ".join(argv), r.returncode, text[-5000:])
        return r.returncode, text

    def submit_argv(self, script, args, conf=()):
        argv = [os.path.join(self.spark_home, "bin", "spark-submit"), "--master", self.master,
                "--conf", "spark.executor.cores=1", "--conf", "spark.cores.max=%d" % WORKERS,
                "--conf", "spark.executor.memory=768m", "--conf", "spark.driver.memory=768m",
                "--conf", "spark.ui.enabled=false", "--conf", "spark.task.maxFailures=1",
                "--conf", "spark.blockManager.port=%d" % BLOCK_MANAGER_PORT,
                "--conf", "spark.driver.port=%d" % DRIVER_PORT,
                "--conf", "spark.driver.blockManager.port=%d" % DRIVER_BLOCK_MANAGER_PORT,
                # The test HDFS's datanode registers over its host's loopback (MiniDFSCluster
                # calls the namenode 127.0.0.1): executors on other hosts use its address.
                "--conf", "spark.hadoop.dfs.client.use.datanode.hostname=true"]
        for c in conf:
            argv += ["--conf", c]
        return argv + [os.path.join(ROOT, script)] + list(args)

    def alive_workers(self):
        """Workers the master counts ALIVE with a free core (its JSON status page)."""
        code = ("import json, urllib.request; s = json.load(urllib.request.urlopen("
                "'http://%s:%d/json/', timeout=5)); print(sum(1 for w in s['workers'] "
                "if w['state'] == 'ALIVE' and w['coresfree'] > 0))" % (self.hosts.addr(1), MASTER_UI))
        r = subprocess.run(self.hosts.on(1, [PYTHON, "-c", code]), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        try:
            return int(r.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return 0

    def wait_workers(self, seconds=120):
        """Until every worker is back with its core free (after a job or a cut link)."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.alive_workers() == WORKERS:
                return
            time.sleep(1)
        raise RuntimeError("the Spark master does not count %d free workers after %d s" % (WORKERS, seconds))

    def node_processes(self, k, program="mnist_spark"):
        """Pids of the job's node processes (the C++ program) running on host k."""
        return [pid for pid, exe, _ in self._processes(k) if exe == program]

    def job_processes(self, k, program="mnist_spark"):
        """{pid: what} of every process of an application on host k: nodes, executor JVMs and
        their Python workers (the Spark worker itself stays)."""
        out = {}
        for pid, exe, cmdline in self._processes(k):
            if exe == program or "CoarseGrainedExecutorBackend" in cmdline or "pyspark.daemon" in cmdline \
                    or "pyspark.worker" in cmdline:
                out[pid] = cmdline[:120]
        return out

    def _processes(self, k):
        for pid in self.hosts.pids(k):
            try:
                exe = os.path.basename(os.readlink("/proc/%d/exe" % pid))
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            yield pid, exe, cmdline


@pytest.fixture(scope="session")
def cluster():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    base = tempfile.mkdtemp(prefix="tos-hosts-")
    hosts = Hosts(os.path.join(base, "hosts"), 1 + WORKERS)
    try:
        yield start_services(hosts, base)
    finally:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "hdfs_cluster.sh"), "stop",
                        os.path.join(base, "hdfs")], timeout=120)
        hosts.down()  # every process on the hosts: Spark's daemons, executors, nodes


def start_services(hosts, base):
    # HDFS on host 1, started while Spark's daemons start.
    hdfs_dir = os.path.join(base, "hdfs")
    hdfs = subprocess.Popen(hosts.on(1, ["bash", os.path.join(ROOT, "scripts", "hdfs_cluster.sh"), "start",
                                         hdfs_dir, "--address", hosts.addr(1), "--owner-pid", str(os.getpid())]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    home = spark_home()
    logs = os.path.join(base, "logs")
    os.makedirs(logs)

    def daemon(k, cls, args, log):
        # Every host has the Hadoop client configuration, as on a real cluster (its files are
        # written once HDFS serves, before any job).
        env = dict(os.environ, SPARK_HOME=home, SPARK_LOCAL_IP=hosts.addr(k), SPARK_DAEMON_MEMORY="256m",
                   PYSPARK_PYTHON=PYTHON, SPARK_LOG_DIR=logs, HADOOP_CONF_DIR=os.path.join(hdfs_dir, "conf"))
        with open(log, "wb") as out:
            subprocess.Popen(hosts.on(k, [os.path.join(home, "bin", "spark-class"), cls] + args), env=env,
                             stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=hosts.host_dir(k) + "/work", start_new_session=True)

    master = "spark://%s:%d" % (hosts.addr(1), MASTER_PORT)
    daemon(1, "org.apache.spark.deploy.master.Master",
           ["--host", hosts.addr(1), "--port", str(MASTER_PORT), "--webui-port", str(MASTER_UI)],
           os.path.join(logs, "master.out"))
    wait_for_text(os.path.join(logs, "master.out"), "I have been elected leader", 120)
    for k in range(2, 2 + WORKERS):
        daemon(k, "org.apache.spark.deploy.worker.Worker",
               ["--host", hosts.addr(k), "--port", str(WORKER_PORT), "--webui-port", str(WORKER_UI),
                "--cores", "1", "--memory", "1200m", "--work-dir", hosts.host_dir(k) + "/work", master],
               os.path.join(logs, "worker%d.out" % k))
    for k in range(2, 2 + WORKERS):
        wait_for_text(os.path.join(logs, "worker%d.out" % k), "Successfully registered with master", 120)
    out, err = hdfs.communicate(timeout=420)
    if hdfs.returncode != 0:
        raise RuntimeError("HDFS did not start on host 1:\n" + err.decode(errors="replace")[-3000:])
    env = dict(line.split("=", 1) for line in out.decode().splitlines() if "=" in line)
    return Cluster(hosts, env, home)


def cluster_spec(output):
    """The {role: [host:port]} the example prints once every node registered."""
    for line in output.splitlines():
        if line.startswith("cluster: {"):
            return json.loads(line.split(": ", 1)[1])
    return None


sys.path.insert(0, os.path.join(ROOT, "python"))
