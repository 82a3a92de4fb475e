"""The driver side: TFoS's TFCluster API over the C++ runtime's driver service.

The user's C++ program runs on the Spark driver as the driver service (reservation server,
roles, fail-fast monitor, shutdown), in one barrier task per executor as a node, and in
feed tasks as a feed client. This module starts those processes and relays their status.
"""

import atexit
import contextlib
import functools
import json
import logging
import os
import secrets
import subprocess
import sys
import shutil
import tempfile
import threading
import time
import uuid
import zipfile

from . import executor

logger = logging.getLogger("torchonspark")



def _with_default_fs(sc, node_env):
    """The nodes' environment, with TOS_DEFAULT_FS set to Spark's own fs.defaultFS unless given:
    relative paths then resolve on the nodes as Spark resolves them (TensorFlowOnSpark's rules)."""
    env = dict(node_env)
    if "TOS_DEFAULT_FS" not in env:
        default_fs = sc._jsc.hadoopConfiguration().get("fs.defaultFS")
        if default_fs:
            env["TOS_DEFAULT_FS"] = default_fs
    return env

class InputMode(object):
    """Where the nodes' training data comes from (TFoS values)."""
    TENSORFLOW = 0  # each node reads its own files (direct mode)
    SPARK = 1       # Spark streams RDD partitions into the nodes' feeds


class TorchOnSparkError(RuntimeError):
    """A cluster failure: the message names the node (id, role, host) and its error."""


def _pickle_map_fun(map_fun, args):
    """(map_fun, args) pickled with cloudpickle, as Spark ships functions; a clear error if not
    picklable."""
    try:
        import cloudpickle
    except ImportError:
        from pyspark import cloudpickle
    try:
        return cloudpickle.dumps((map_fun, args))
    except Exception as e:  # noqa: BLE001 (pickling raises many kinds)
        raise TorchOnSparkError(
            "map_fun %r or its arguments cannot be pickled (%s: %s): define map_fun at the top "
            "level of a module, and keep open files, locks, sockets and SparkContexts out of it "
            "and of its arguments" % (getattr(map_fun, "__name__", map_fun), type(e).__name__, e)) from e


# The PySpark versions the bridge works on: 3.5 and 4.x (tested: 3.5.3 and 4.3.0).
_MIN_PYSPARK = (3, 5)


def _check_spark_version(sc):
    """Refuses a PySpark the bridge was not made for, or a Spark Connect session (no RDDs, no
    SparkContext), naming what it found and what to use instead."""
    import pyspark
    try:
        have = tuple(int(p) for p in pyspark.__version__.split(".")[:2])
    except ValueError:
        have = _MIN_PYSPARK
    if have < _MIN_PYSPARK:
        raise TorchOnSparkError(
            "pyspark %s is older than TorchOnSpark supports: use pyspark 3.5 or 4.x (pip install "
            "'pyspark>=3.5'; the executors' Spark must match)" % pyspark.__version__)
    if not hasattr(sc, "_jsc"):
        raise TorchOnSparkError(
            "%s is not a SparkContext (a Spark Connect session has none, pyspark %s): TorchOnSpark "
            "needs classic Spark, whose tasks run its nodes; pass spark.sparkContext of a session "
            "made without spark.remote / SPARK_REMOTE" % (type(sc).__name__, pyspark.__version__))


def _spark_checks(sc, num_executors, wait_secs):
    """Refuses configurations under which a cluster could half-start, naming the setting (on
    YARN, the spark-submit option to change)."""
    _check_spark_version(sc)
    conf = sc.getConf()
    master = sc.master or ""
    yarn = master.startswith("yarn")
    if conf.get("spark.dynamicAllocation.enabled", "false").lower() == "true":
        fix = ("submit with --conf spark.dynamicAllocation.enabled=false --num-executors %d (YARN "
               "clusters often turn it on in spark-defaults.conf, with the external shuffle service)"
               % num_executors if yarn else
               "set spark.dynamicAllocation.enabled=false and a fixed number of executors")
        raise TorchOnSparkError(
            "spark.dynamicAllocation.enabled is true: executors come and go, but every TorchOnSpark "
            "node must keep its executor; " + fix)
    task_cpus = int(conf.get("spark.task.cpus", "1"))
    cores = conf.get("spark.executor.cores")
    if cores is not None and int(cores) // task_cpus > 1:
        fix = ("submit with --executor-cores %d (or --conf spark.task.cpus=%s)" % (task_cpus, cores) if yarn else
               "set spark.task.cpus=%s (or spark.executor.cores=%d)" % (cores, task_cpus))
        raise TorchOnSparkError(
            "spark.executor.cores=%s%s with spark.task.cpus=%d lets %d tasks share an executor; "
            "TorchOnSpark runs exactly one node per executor: %s"
            % (cores, " (--executor-cores)" if yarn else "", task_cpus, int(cores) // task_cpus, fix))
    if master.startswith("local"):
        if num_executors != 1:
            raise TorchOnSparkError(
                "master %s has a single executor but the cluster needs %d; use a Spark cluster "
                "(standalone, YARN, Kubernetes) with %d executors, or the C++ program's own local "
                "mode" % (master, num_executors, num_executors))
        return
    if yarn:
        # YARN starts spark.executor.instances executors, 2 unless told.
        instances = int(conf.get("spark.executor.instances", "2"))
        if instances < num_executors:
            raise TorchOnSparkError(
                "spark.executor.instances is %d%s but the cluster needs %d executors (one per node): "
                "submit with --num-executors %d"
                % (instances, "" if conf.get("spark.executor.instances") else " (YARN's default)",
                   num_executors, num_executors))
    deadline = time.time() + wait_secs
    while True:
        have = sc._jsc.sc().statusTracker().getExecutorInfos()
        count = len(have) - 1  # the driver is listed too
        if count >= num_executors:
            return
        if time.time() >= deadline:
            if yarn:
                raise TorchOnSparkError(
                    "only %d Spark executors are registered, the cluster needs %d (one per node), and "
                    "YARN has not started the others within %d s: its queue or NodeManagers lack room "
                    "for containers of spark.executor.memory + spark.executor.memoryOverhead (see "
                    "`yarn application -status %s`, yarn.nodemanager.resource.memory-mb, "
                    "yarn.scheduler.maximum-allocation-mb), or ask for less (--executor-memory)"
                    % (count, num_executors, wait_secs, getattr(sc, "applicationId", "APPLICATION_ID")))
            raise TorchOnSparkError(
                "only %d Spark executors are registered, the cluster needs %d (one per node); "
                "ask for more: --num-executors / spark.executor.instances on YARN and Kubernetes, "
                "--total-executor-cores / spark.cores.max with spark.executor.cores on standalone"
                % (count, num_executors))
        time.sleep(0.5)


def _ship_package(sc, python_nodes=False):
    """Makes this package importable in the executors' Python workers (once per context); for
    Python nodes also ships the extension module, which cannot load from the package's zip."""
    if python_nodes and not getattr(sc, "_tos_extension_shipped", False):
        from . import _native
        sc.addFile(_native.load().__file__)
        try:
            sc.addFile(_native.load_train().__file__)  # for torchonspark.ps and .allreduce
        except ImportError as e:  # a build without libtorch: Python nodes without ps/allreduce
            logger.warning("%s", e)
        sc._tos_extension_shipped = True
    if getattr(sc, "_tos_package_shipped", False):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    zdir = tempfile.mkdtemp(prefix="torchonspark-")
    # Executors fetch the file from the driver whenever they start a task: it stays until the
    # driver process ends.
    atexit.register(shutil.rmtree, zdir, True)
    zpath = os.path.join(zdir, "torchonspark.zip")
    with zipfile.ZipFile(zpath, "w") as z:
        for name in sorted(os.listdir(here)):
            if name.endswith(".py"):
                z.write(os.path.join(here, name), "torchonspark/" + name)
    sc.addPyFile(zpath)
    sc._tos_package_shipped = True


class _Service(object):
    """The driver service process: JSON events from its stdout, JSON commands to its stdin."""

    def __init__(self, command, config, secret, child_env):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOS_")}
        env.update(child_env)
        env["TOS_DRIVER_SERVICE"] = json.dumps(config)
        env["TOS_SECRET"] = secret
        self.proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, close_fds=True)
        self.cv = threading.Condition()
        self.launch = None
        self.registered = None
        self.failure = None
        self.urls = {}
        self.replies = {}
        self.shutdown = None
        self.exited = False
        self.on_failure = None
        self._next_id = 0
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="torchonspark-service", daemon=True)
        self._reader.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line.startswith("{"):
                if line:
                    sys.stderr.write(line + "\n")
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                sys.stderr.write(line + "\n")
                continue
            kind = ev.get("event")
            callback = None
            with self.cv:
                if kind == "launch":
                    self.launch = ev
                elif kind == "registered":
                    self.registered = ev
                elif kind == "failed":
                    if self.failure is None:
                        self.failure = ev["message"]
                        callback = self.on_failure
                elif kind == "url":
                    self.urls[ev["name"]] = ev["url"]
                    logger.info("%s at %s", ev["name"], ev["url"])
                elif kind == "reply":
                    self.replies[ev["id"]] = ev
                elif kind == "shutdown":
                    self.shutdown = ev
                self.cv.notify_all()
            if callback:
                callback(ev["message"])
        self.proc.wait()
        with self.cv:
            self.exited = True
            if self.shutdown is None and self.failure is None:
                self.failure = "the driver service exited with status %s" % self.proc.returncode
            self.cv.notify_all()

    def wait(self, predicate, timeout):
        deadline = time.time() + timeout
        with self.cv:
            while not predicate():
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.cv.wait(min(left, 1.0))
            return True

    def send(self, cmd):
        with self._write_lock:
            try:
                self.proc.stdin.write((json.dumps(cmd) + "\n").encode("utf-8"))
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass

    def call(self, cmd, timeout):
        with self.cv:
            self._next_id += 1
            cid = self._next_id
        cmd = dict(cmd, id=cid)
        self.send(cmd)
        self.wait(lambda: cid in self.replies or self.exited, timeout)
        with self.cv:
            r = self.replies.get(cid)
        if r is None:
            return False, self.failure or "no answer from the driver service to %s" % cmd["cmd"]
        return r["ok"], r["message"]

    def abort(self, message):
        self.send({"cmd": "abort", "message": message})

    def close(self, timeout=30):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Cluster(object):
    """A running TorchOnSpark cluster (TFoS's TFCluster)."""

    @staticmethod
    def run(sc, program, args, num_executors, num_ps, tensorboard=False, input_mode=InputMode.SPARK,
            log_dir=None, master_node=None, reservation_timeout=600, eval_node=False,
            ship_program=True, executor_wait=None, node_env=None, node_timeout=60):
        """Starts `program` as one node per Spark executor and returns when all registered.

        program: a Python function map_fun(args, ctx) (TFoS's form; shipped with cloudpickle,
          as Spark ships functions; args may be any picklable object), or the user's C++
          executable (built with tos::Main), shipped to the executors with
          SparkContext.addFile unless ship_program=False (then it must exist at the same path
          on every host); its args are its arguments (nodes and driver service get them).
        Raises TorchOnSparkError naming the Spark setting to change when the cluster cannot
        start (too few executors, several tasks per executor, dynamic allocation).
        node_timeout: seconds a node may send no heartbeat (stopped, frozen, host lost) before
          the job fails naming it; nodes likewise give up on a driver silent that long."""
        c = Cluster()
        c._start(sc, program, args if callable(program) else list(args or []), num_executors, num_ps, tensorboard, input_mode, log_dir,
                 master_node, reservation_timeout, eval_node, ship_program, executor_wait, node_env or {},
                 node_timeout)
        return c

    def _start(self, sc, program, args, num_executors, num_ps, tensorboard, input_mode, log_dir,
               master_node, reservation_timeout, eval_node, ship_program, executor_wait, node_env,
               node_timeout=60):
        self.sc = sc
        self.num_executors = num_executors
        self.input_mode = input_mode
        self.job_id = uuid.uuid4().hex
        self._group = "torchonspark-" + self.job_id[:12]
        self._inference_feeds = set()
        self._done = False
        fun_blob = None
        child_env = {}
        if callable(program):
            from . import _native
            fun_blob = _pickle_map_fun(program, args)
            args = []
            command = [sys.executable, "-m", "torchonspark.node"]
            child_env = _native.child_env()
            program = "map_fun %s" % getattr(program, "__name__", "?")
        else:
            program = os.path.abspath(program)
            if not os.access(program, os.X_OK):
                raise TorchOnSparkError("program %s does not exist or is not executable" % program)
            command = [program] + list(args)
        _spark_checks(sc, num_executors, executor_wait if executor_wait is not None else min(60, reservation_timeout))
        _ship_package(sc, python_nodes=fun_blob is not None)
        program_name = None
        if ship_program and fun_blob is None:
            shipped = getattr(sc, "_tos_shipped_files", set())
            if program not in shipped:
                sc.addFile(program)
                shipped.add(program)
                sc._tos_shipped_files = shipped
            program_name = os.path.basename(program)

        secret = secrets.token_hex(32)
        config = {
            "num_executors": num_executors,
            "num_ps": num_ps,
            "master_node": bool(master_node),
            "eval_node": bool(eval_node),
            "input_mode": "tensorflow" if input_mode == InputMode.TENSORFLOW else "spark",
            "tensorboard": bool(tensorboard),
            "log_dir": log_dir or "tos_logs",
            "reservation_timeout": int(reservation_timeout),
            "node_timeout": int(node_timeout),
            "server_host": os.environ.get("TOS_SERVER_HOST") or sc.getConf().get("spark.driver.host", ""),
            "server_port": os.environ.get("TOS_SERVER_PORT", ""),
            # Port ranges for firewalls, from the driver's environment: the nodes get them.
            "node_port": os.environ.get("TOS_NODE_PORT", ""),
            "feed_port": os.environ.get("TOS_FEED_PORT", ""),
            "node_env": _with_default_fs(sc, node_env),
        }
        self._default_fs = config["node_env"].get("TOS_DEFAULT_FS", "")
        self._service = _Service(command, config, secret, child_env)
        self._service.on_failure = self._on_failure
        atexit.register(self._atexit)
        if not self._service.wait(lambda: self._service.launch or self._service.failure, 60):
            self._service.close(1)
            raise TorchOnSparkError("the driver service (%s) did not start within 60 s" % program)
        if self._service.launch is None:
            self._service.close()
            raise TorchOnSparkError(self._service.failure)
        launch = self._service.launch
        self._info = executor.JobInfo(self.job_id, secret, program, program_name, args, launch["env"],
                                      launch["names"], log_dir, fun_blob=fun_blob)

        # The gang start: one barrier task per node, all at once, each on its own executor.
        self._node_tasks = {}
        starter = threading.Thread(target=self._start_nodes, name="torchonspark-nodes", daemon=True)
        starter.start()
        self._watcher = threading.Thread(target=self._watch_context, name="torchonspark-watch", daemon=True)
        self._watcher.start()
        ok = self._service.wait(lambda: self._service.registered or self._service.failure or
                                "error" in self._node_tasks, reservation_timeout + 60)
        if not ok or self._service.registered is None:
            why = (self._service.failure or self._node_tasks.get("error") or
                   "the nodes did not register within %d s" % reservation_timeout)
            self._abort_and_close(why)
            raise TorchOnSparkError(why)
        self._info.nodes = self._service.registered["nodes"]
        self.cluster_spec = self._service.registered["cluster_spec"]
        logger.info("TorchOnSpark cluster of %d nodes: %s", num_executors, json.dumps(self.cluster_spec))

    # ---- background threads ----

    def _start_nodes(self):
        sc = self.sc
        n = self.num_executors
        try:
            with self._job_group("nodes", "TorchOnSpark: start %d nodes" % n):
                rdd = sc.parallelize(range(n), n).barrier().mapPartitionsWithIndex(executor.start_node(self._info))
                started = rdd.collect()
        except Exception as e:  # noqa: BLE001 (reported through the cluster)
            self._node_start_failed("starting the nodes failed in Spark: %s" % _first_line(e))
            return
        problems = [s["conflict"] for s in started if "conflict" in s]
        if problems:
            self._node_start_failed(
                "several tasks per executor: %s. TorchOnSpark runs exactly one node per executor: set "
                "spark.task.cpus equal to spark.executor.cores (or give executors one core)" % problems[0])
            return
        errors = ["executor %d on %s: %s" % (s["executor_id"], s["host"], s["error"]) for s in started if "error" in s]
        if errors:
            self._node_start_failed("a node could not start: " + "; ".join(errors))
            return
        for s in started:
            if "gpus" in s:
                logger.info("executor %d on %s: its node got GPUs %s (CUDA_VISIBLE_DEVICES)",
                            s["executor_id"], s["host"], ",".join(s["gpus"]))
        with self._service.cv:
            self._node_tasks["started"] = started
            self._service.cv.notify_all()

    def _node_start_failed(self, why):
        with self._service.cv:
            self._node_tasks["error"] = why
            self._service.cv.notify_all()
        self._service.abort(why)

    def _watch_context(self):
        while not self._done:
            if self.sc._jsc is None:
                self._service.abort("the SparkContext was stopped")
                return
            time.sleep(0.5)

    def _on_failure(self, message):
        logger.error("TorchOnSpark job failed: %s", message)
        try:
            self.sc.cancelJobGroup(self._group + "-feed")
        except Exception:  # noqa: BLE001 (the context may be gone)
            pass

    def _atexit(self):
        if not self._done:
            self._abort_and_close("the Spark application exited without Cluster.shutdown()")

    def _failure_or(self, message):
        """A node's failure, when one explains `message` (a feed that could not end because its
        node is gone): it is the error to report. It arrives within seconds of the node's end."""
        self._service.wait(lambda: self._service.failure, 5)
        return self._service.failure or message

    def _abort_and_close(self, why):
        self._done = True
        self._service.abort(why)
        self._service.wait(lambda: self._service.shutdown is not None or self._service.exited, 30)
        self._service.close()

    @contextlib.contextmanager
    def _job_group(self, suffix, description):
        keys = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")
        saved = [self.sc.getLocalProperty(k) for k in keys]
        self.sc.setJobGroup(self._group + "-" + suffix, description, interruptOnCancel=True)
        try:
            yield
        finally:
            if self.sc._jsc is not None:
                for k, v in zip(keys, saved):
                    self.sc.setLocalProperty(k, v)

    def _job_info(self, feed_timeout):
        info = executor.JobInfo(self.job_id, self._info.secret, self._info.program, self._info.program_name,
                                self._info.node_args, self._info.launch_env, self._info.names,
                                self._info.log_dir, feed_timeout, self._info.nodes, python=self._info.python)
        return info

    def _check_alive(self):
        if self._done:
            raise TorchOnSparkError("the cluster was shut down")
        if self._service.failure:
            raise TorchOnSparkError(self._service.failure)

    # ---- the TFCluster API ----

    def train(self, dataRDD, num_epochs=1, feed_timeout=600, qname="input"):
        """Feeds dataRDD num_epochs times to the trainers' feed `qname`, then ends that feed.

        Each partition goes to the node on the executor that computes it (a partition computed
        on a ps or evaluator executor goes to a trainer). Raises TorchOnSparkError with the
        node's id, role and message if a node fails."""
        self._check_alive()
        if self.input_mode == InputMode.TENSORFLOW:
            logger.warning("train() on a cluster in InputMode.TENSORFLOW: feeding anyway")
        info = self._job_info(feed_timeout)
        info.feed_id = uuid.uuid4().hex[:16]
        try:
            with self._job_group("feed", "TorchOnSpark: feed '%s' (%d epochs)" % (qname, num_epochs)):
                if _is_dataframe(dataRDD):
                    # Arrow record batches straight from Spark's JVM (docs/spark.md, "DataFrames").
                    df = functools.reduce(lambda a, b: a.union(b), [dataRDD] * num_epochs)
                    df.mapInArrow(executor.feed_arrow(info, qname), "rows long").collect()
                else:
                    rdd = dataRDD if num_epochs == 1 else self.sc.union([dataRDD] * num_epochs)
                    rdd.foreachPartition(executor.feed_partition(info, qname))
        except Exception as e:
            # A node failure usually explains a failed feed task; it arrives within seconds.
            self._service.wait(lambda: self._service.failure, 5)
            why = self._service.failure
            if why is None:
                why = "feeding '%s' failed: %s" % (qname, _first_line(e))
                self._service.abort(why)
            raise TorchOnSparkError(why) from e
        ok, message = self._service.call({"cmd": "end_feed", "feed": qname, "timeout": feed_timeout},
                                         feed_timeout + 30)
        if not ok:
            raise TorchOnSparkError(self._failure_or(message))

    def inference(self, dataRDD, feed_timeout=600, qname="input", result="prediction long", columns=None):
        """Returns an RDD of one result string per element of dataRDD, in order (lazy, like
        TFoS): the trainers' feed `qname` gets each partition and its batch_results(). The
        feed is ended by shutdown().

        Given a DataFrame, returns a DataFrame (lazy): the input's `columns` (all by default)
        followed by the `result` column (a DDL string such as "prediction long" or
        "label_probability double"), one row per input row, in order; the nodes read the rows
        with a ColumnFeed and answer with its batch_results()."""
        self._check_alive()
        self._inference_feeds.add(qname)
        info = self._job_info(feed_timeout)
        if not _is_dataframe(dataRDD):
            return dataRDD.mapPartitions(executor.infer_partition(info, qname))
        from pyspark.sql.pandas.types import to_arrow_schema
        from pyspark.sql.types import StructField, StructType, _parse_datatype_string
        parsed = _parse_datatype_string(result) if isinstance(result, str) else result
        if not isinstance(parsed, StructType):
            parsed = StructType([StructField("prediction", parsed)])
        if len(parsed.fields) != 1:
            raise ValueError("inference(df, result=...) declares one result column, not %d" % len(parsed.fields))
        keep = list(dataRDD.columns if columns is None else columns)
        missing = [c for c in keep if c not in dataRDD.columns]
        if missing:
            raise ValueError("inference(df, columns=...): no column %s in the DataFrame (%s)"
                             % (", ".join(missing), ", ".join(dataRDD.columns)))
        out = StructType([dataRDD.schema[c] for c in keep] + parsed.fields)
        return dataRDD.mapInArrow(
            executor.infer_arrow(info, qname, keep, parsed.fields[0].name, to_arrow_schema(out)), out)

    def shutdown(self, ssc=None, grace_secs=0, timeout=259200):
        """Ends the inference feeds, waits for the trainers to finish (up to timeout), waits
        grace_secs, stops ps and evaluator nodes. Raises TorchOnSparkError if any node failed."""
        if self._done:
            return
        try:
            if not self._service.failure:
                for q in sorted(self._inference_feeds):
                    ok, message = self._service.call({"cmd": "end_feed", "feed": q, "timeout": 60}, 120)
                    if not ok:
                        self._service.abort(self._failure_or(message))
                        break
            self._service.send({"cmd": "shutdown", "grace": int(grace_secs), "timeout": int(timeout)})
            self._service.wait(lambda: self._service.shutdown is not None or self._service.exited,
                               timeout + grace_secs + 120)
        finally:
            self._done = True
            self._service.close()
        result = self._service.shutdown
        if result is None:
            raise TorchOnSparkError(self._service.failure or "the driver service ended without a result")
        if not result["ok"]:
            raise TorchOnSparkError(result["message"])

    def hosts(self):
        """The distinct hosts the nodes advertised, in executor order."""
        out = []
        for n in self._info.nodes or []:
            if n["host"] not in out:
                out.append(n["host"])
        return out

    def check_shared_paths(self, paths, shared_mount=False):
        """Refuses local paths the nodes would write to while they run on several hosts: each
        host would get its own part of a model or of the predictions, and no host all of it.

        paths: {flag: path}, e.g. {"--model": args.model}; a path is local when it starts with
        file: or has no scheme while the nodes' default file system is local. shared_mount=True
        accepts them (a mount every host shares, such as NFS). Raises TorchOnSparkError naming
        the flag, the path and the hosts, and stops the cluster; call it before training, so that
        nothing is lost."""
        hosts = self.hosts()
        if shared_mount or len(hosts) < 2:
            return
        for flag, path in sorted(paths.items()):
            if path and _is_local_path(path, self._default_fs):
                why = ("%s %s is a local path, but the nodes run on %d hosts (%s): each would read or write "
                       "its own copy. Use a file system every host shares (hdfs://NAMENODE/..., webhdfs://...), "
                       "or, if %s is on a mount every host shares, say so (--shared_mount)"
                       % (flag, path, len(hosts), ", ".join(hosts), path))
                self._abort_and_close(why)  # the nodes stop now, not after a graceful shutdown's wait
                raise TorchOnSparkError(why)

    def tensorboard_url(self):
        """TensorBoard's URL once the chief (or worker 0) started it, else None."""
        return self._service.urls.get("TensorBoard")


def _is_local_path(path, default_fs):
    if path.startswith("file:"):
        return True
    if "://" in path:
        return False
    return not default_fs or default_fs.startswith("file:")


def _is_dataframe(data):
    return hasattr(data, "mapInArrow") and hasattr(data, "schema")


def _first_line(e):
    text = str(e)
    # Py4J errors carry the whole Java stack; the first cause line is what users need.
    for marker in ("RuntimeError: ", "TorchOnSparkError: ", "TypeError: ", "SparkException: "):
        i = text.rfind(marker)
        if i >= 0:
            return text[i:].split("\n")[0]
    return text.strip().split("\n")[0][:2000]


# TFoS spelling.
run = Cluster.run
TFCluster = Cluster
