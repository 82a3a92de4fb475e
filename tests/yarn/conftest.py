"""A real YARN (ResourceManager + one NodeManager) with HDFS on 127.0.0.1 for the whole session
(scripts/hdfs_cluster.sh --yarn, from Apache Hadoop's published artifacts), owned by this test
process and always stopped; spark-submit --master yarn from the checkout's .venv."""

import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("TOS_BIN_DIR", os.path.join(ROOT, "build", "bin"))
SCRIPT = os.path.join(ROOT, "scripts", "hdfs_cluster.sh")
EXAMPLE = os.path.join(ROOT, "examples", "mnist", "spark", "mnist_spark.py")
# The Python of every YARN container (application master, executors): the checkout's .venv,
# the same path on every "host" since all of them are this machine.
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
USER = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
START_TIMEOUT_S = 420  # the first start on a machine also fetches Hadoop's artifacts


class Yarn(object):
    """A started cluster: default_fs (hdfs://127.0.0.1:PORT), conf_dir (HADOOP_CONF_DIR with
    yarn-site.xml), log_dir (the NodeManager's container logs: LOG_DIR/APP/CONTAINER/stdout)."""

    def __init__(self, directory, env):
        self.dir = directory
        self.default_fs = env["DEFAULT_FS"]
        self.conf_dir = env["HADOOP_CONF_DIR"]
        self.log_dir = env["YARN_LOG_DIR"]
        self.home = "%s/user/%s" % (self.default_fs, USER)

    def env(self):
        """The client's environment: HADOOP_CONF_DIR/YARN_CONF_DIR at the cluster, Spark from the .venv."""
        import pyspark
        e = {k: v for k, v in os.environ.items() if not k.startswith(("TOS_", "HADOOP_", "YARN_", "PYSPARK_"))}
        e.update(HADOOP_CONF_DIR=self.conf_dir, YARN_CONF_DIR=self.conf_dir,
                 SPARK_HOME=os.path.dirname(pyspark.__file__), SPARK_LOCAL_IP="127.0.0.1",
                 PYSPARK_PYTHON=PYTHON, PYSPARK_DRIVER_PYTHON=PYTHON)
        return e


@pytest.fixture(scope="session")
def yarn():
    state = tempfile.mkdtemp(prefix="tos-yarn-")
    try:
        out = subprocess.run(["bash", SCRIPT, "start", state, "--yarn", "--owner-pid", str(os.getpid())],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=START_TIMEOUT_S)
        if out.returncode != 0:
            raise RuntimeError("YARN did not start (%s):\n%s" % (state, out.stderr.decode(errors="replace")[-4000:]))
        env = dict(line.split("=", 1) for line in out.stdout.decode().splitlines() if "=" in line)
        yield Yarn(state, env)
    finally:  # also when the start failed half-way
        subprocess.run(["bash", SCRIPT, "stop", state], timeout=120)
        shutil.rmtree(state, ignore_errors=True)


def run(args, env, timeout=120):
    """One of the project's programs; fails the test with its output's end unless it exits 0."""
    r = subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]), env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    text = r.stdout.decode(errors="replace")
    assert r.returncode == 0, "%s exited %d:\n%s" % (" ".join(args), r.returncode, text[-4000:])
    return text


def submit_command(yarn, deploy_mode, script_args, files=()):
    """spark-submit --master yarn of the MNIST example: 3 executors of 1 core and 512m, Spark's
    jars used where they are (spark.yarn.jars=local:...) instead of uploaded on every submit."""
    env = yarn.env()
    spark_home = env["SPARK_HOME"]
    cmd = [os.path.join(spark_home, "bin", "spark-submit"), "--master", "yarn", "--deploy-mode", deploy_mode,
           "--num-executors", "3", "--executor-cores", "1", "--executor-memory", "512m",
           "--driver-memory", "512m", "--conf", "spark.yarn.am.memory=512m",
           "--conf", "spark.yarn.jars=local:%s/jars/*" % spark_home,
           "--conf", "spark.pyspark.python=" + PYTHON,
           "--conf", "spark.yarn.appMasterEnv.PYSPARK_PYTHON=" + PYTHON,
           "--conf", "spark.yarn.maxAppAttempts=1", "--conf", "spark.ui.enabled=false"]
    if files:
        cmd += ["--files", ",".join(files)]
    return cmd + [EXAMPLE] + list(script_args), env


def application_id(text):
    m = re.search(r"Submitted application (application_\d+_\d+)", text)
    assert m, "spark-submit did not submit to YARN:\n" + text[-4000:]
    return m.group(1)


def application_processes(app_id):
    """The processes of a YARN application: its containers and what they started (the nodes),
    found by the application's number in their working directory, command line or environment."""
    key = app_id.split("_", 1)[1].encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % pid).encode()
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read()
            with open("/proc/%s/environ" % pid, "rb") as f:
                environ = f.read()
        except OSError:  # gone, or a zombie
            continue
        if key in cwd or key in cmdline or key in environ:
            found.append(int(pid))
    return found


def wait_application_gone(app_id, within):
    """[] once nothing of the application runs, else what still runs after `within` seconds."""
    deadline = time.time() + within
    while True:
        left = application_processes(app_id)
        if not left or time.time() >= deadline:
            return left
        time.sleep(0.5)


def describe(pids):
    out = []
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                out.append("%d: %s" % (pid, f.read().replace(b"\0", b" ").decode(errors="replace")[:200]))
        except OSError:
            pass
    return "\n".join(out)
