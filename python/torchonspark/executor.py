"""What runs inside Spark tasks: starting a node, streaming a partition to a node.

Nothing here speaks the runtime's protocols: the C++ program does (as a node, or as a feed
client with TOS_FEED_CLIENT=1). Python only starts processes and moves bytes.
"""

import os
import socket
import subprocess
import sys
import itertools
import threading

from . import columns, records


class JobInfo(object):
    """What tasks need to know about a running cluster (pickled into task closures)."""

    def __init__(self, job_id, secret, program, program_name, node_args, launch_env, names,
                 log_dir, feed_timeout=600, nodes=None, fun_blob=None, python=None):
        self.job_id = job_id
        self.secret = secret
        self.program = program            # absolute path on the driver (and shared paths)
        self.program_name = program_name  # name under SparkFiles when shipped
        self.node_args = list(node_args)
        self.launch_env = dict(launch_env)
        self.names = list(names)
        self.log_dir = log_dir
        self.feed_timeout = feed_timeout
        self.nodes = nodes or []          # registered nodes, from the driver service
        self.fun_blob = fun_blob          # Python nodes: (map_fun, args), cloudpickled
        self.python = bool(fun_blob) if python is None else python
        self.feed_id = None               # train(): one per call, names its partitions' streams


def _python_command(env):
    """A Python job's node / feed client command on this executor: this worker's Python with
    the runtime's extension module (loading it here fails on the executor, saying what to
    do); `env` gets what the child needs."""
    from . import _native
    env.update(_native.child_env())
    return [sys.executable, "-m", "torchonspark.node"]


def _program_path(info):
    if info.program_name:
        try:
            from pyspark import SparkFiles
            p = SparkFiles.get(info.program_name)
            if os.path.exists(p):
                if not os.access(p, os.X_OK):
                    os.chmod(p, 0o755)
                return p
        except Exception:
            pass
    if os.path.exists(info.program):
        return info.program
    raise RuntimeError(
        "TorchOnSpark program %s is not on executor host %s: ship it with spark-submit --files "
        "(or Cluster.run(..., ship_program=True)), or put it on a path every host shares"
        % (info.program, socket.gethostname()))


def _marker(job_id):
    return os.path.join(os.getcwd(), "tos-%s.node" % job_id)


def _executor_jvm_pid():
    """The executor JVM's pid: the first java ancestor of this Python worker (or None)."""
    pid = os.getpid()
    for _ in range(8):
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            return None
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm == "java" and pid != os.getpid():
            return pid
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
        if pid <= 1:
            return None
    return None


def _task_gpus():
    """The GPU addresses Spark gave this task (with spark.task.resource.gpu.amount set), as
    TaskContext.resources() lists them, or None when it gave none."""
    try:
        from pyspark import TaskContext
        ctx = TaskContext.get()  # the BarrierTaskContext in the gang start
        gpu = ctx.resources().get("gpu") if ctx is not None else None
    except Exception:  # noqa: BLE001 (an older pyspark, no task context)
        return None
    addresses = list(gpu.addresses) if gpu is not None else []
    return addresses or None


def start_node(info):
    """mapPartitions function of the barrier stage: starts this executor's node, detached
    (the task ends at once and frees the core for feed tasks), and reports where it runs."""

    def run(index, _):
        host = socket.gethostname()
        where = {"executor_id": index, "host": host, "cwd": os.getcwd(), "pid": os.getpid()}
        try:
            fd = os.open(_marker(info.job_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            with open(_marker(info.job_id)) as f:
                other = f.read().strip()
            where["conflict"] = ("executor %s (%s) was given two nodes of this cluster (executor ids %s and %d)"
                                 % (host, os.getcwd(), other, index))
            return [where]
        os.write(fd, str(index).encode())
        os.close(fd)
        try:
            env = dict(os.environ)
            for k in list(env):
                if k.startswith("TOS_"):
                    del env[k]
            if info.python:
                command = _python_command(env)
                funfile = os.path.join(os.getcwd(), "tos-%s.fun" % info.job_id)
                with open(funfile, "wb") as f:
                    f.write(info.fun_blob)
                command.append(funfile)
            else:
                command = [_program_path(info)] + info.node_args
            env.update(info.launch_env)
            env["TOS_SECRET"] = info.secret
            env["TOS_EXECUTOR_ID"] = str(index)
            env["TOS_WORKING_DIR"] = os.getcwd()
            log_dir = info.log_dir or os.path.join(os.getcwd(), "tos_logs")
            env["TOS_LOG_DIR"] = log_dir
            if os.environ.get("SPARK_LOCAL_IP"):
                env["TOS_HOST"] = os.environ["SPARK_LOCAL_IP"]
            # The node sees the GPUs Spark gave its task, as TensorFlowOnSpark's and
            # TorchDistributor's do; without GPU scheduling the variable stays as it is.
            gpus = _task_gpus()
            if gpus is not None:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
                where["gpus"] = gpus
            jvm = _executor_jvm_pid()
            if jvm:
                env["TOS_WATCH_PID"] = str(jvm)
            node_logs = os.path.join(os.getcwd(), "tos_logs")
            os.makedirs(node_logs, exist_ok=True)
            log = os.path.join(node_logs, "%s-%s.log" % (info.job_id[:8], info.names[index]))
            env["TOS_NODE_LOG"] = log
            if gpus is not None:
                with open(log, "a") as f:
                    f.write("CUDA_VISIBLE_DEVICES=%s: the GPU addresses Spark gave this task\n"
                            % env["CUDA_VISIBLE_DEVICES"])
            # sh backgrounds the node and exits: the node is reparented, so it outlives this
            # task (and is reaped by init); it exits with its job or its executor.
            p = subprocess.Popen(
                ["/bin/sh", "-c", 'exec 0</dev/null; "$0" "$@" >>"$TOS_NODE_LOG" 2>&1 & echo $!'] + command,
                env=env, stdout=subprocess.PIPE, start_new_session=True, close_fds=True)
            out, _ = p.communicate(timeout=30)
            where["node_pid"] = int(out.strip() or 0)
            where["log"] = log
        except Exception as e:  # reported to the driver, which aborts the cluster
            where["error"] = "%s: %s" % (type(e).__name__, e)
        return [where]

    return run


def local_executor_id(job_id):
    """This executor's node (its executor id), or None if it runs none of this cluster."""
    try:
        with open(_marker(job_id)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _choose_target(info, partition):
    trainers = [n for n in info.nodes if n["trainer"]]
    if not trainers:
        raise RuntimeError("the cluster has no chief or worker to feed")
    local = local_executor_id(info.job_id)
    for n in trainers:
        if n["executor_id"] == local:
            return n
    # An executor that runs a ps or evaluator (or no node) forwards its partition to a trainer.
    return trainers[partition % len(trainers)]


def _label(node):
    return "%s:%d (executor %d)" % (node["job_name"], node["task_index"], node["executor_id"])


def _start_client(info, node, feed_name, mode, encoding, partition):
    from pyspark import TaskContext
    ctx = TaskContext.get()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOS_")}
    env.update({
        "TOS_FEED_CLIENT": "1",
        "TOS_SECRET": info.secret,
        "TOS_FEED_TARGET": node["feed_address"],
        "TOS_FEED_TARGET_ID": str(node["executor_id"]),
        "TOS_FEED_TARGET_LABEL": _label(node),
        "TOS_FEED_NAME": feed_name,
        "TOS_FEED_MODE": mode,
        "TOS_FEED_ENCODING": encoding,
        "TOS_FEED_TIMEOUT_MS": str(int(info.feed_timeout * 1000)),
        "TOS_FEED_SENDER": "spark task %s (partition %d, attempt %d) on %s" % (
            ctx.taskAttemptId() if ctx else "?", partition, ctx.attemptNumber() if ctx else 0,
            socket.gethostname()),
        "TOS_FEED_PARENT_PID": str(os.getpid()),
        "TOS_RESERVATION": info.launch_env.get("TOS_RESERVATION", ""),
    })
    if mode == "train" and info.feed_id:
        # Exactly once: a retried or speculative attempt resends the partition, and the node
        # takes only the records it has not taken from this stream (docs/spark.md).
        env["TOS_FEED_STREAM"] = "%s/%d" % (info.feed_id, partition)
    command = _python_command(env) if info.python else [_program_path(info)]
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, close_fds=True)


def _results(proc, node, feed_name):
    """Yields the feed client's results as they arrive; raises, naming the node, if the feed
    failed. Returns the client's status report."""
    status = None
    for kind, payload in records.read_messages(proc.stdout):
        if kind == b"R":
            yield payload
        elif kind == b"S":
            import json
            status = json.loads(payload.decode("utf-8"))
    proc.wait()
    if status is None:
        raise RuntimeError("the feed client for %s exited with status %s without a report"
                           % (_label(node), proc.returncode))
    if not status["ok"]:
        raise RuntimeError("feeding '%s' to %s failed: %s" % (feed_name, _label(node), status["message"]))
    return status


def _finish(proc, node, feed_name):
    """Waits for the feed client's end: (status, results)."""
    results = []
    gen = _results(proc, node, feed_name)
    while True:
        try:
            results.append(next(gen))
        except StopIteration as stop:
            return stop.value, results


def _answers(proc, node, feed_name, write):
    """Inference: runs write() (the partition into the client) on a thread while yielding the
    client's results; a failure of either is raised, write()'s first (it explains the other)."""
    failure = []

    def writer_main():
        try:
            write()
        except Exception as e:  # e.g. an element of another kind, or Spark's input failed
            failure.append(e)
            proc.kill()

    writer = threading.Thread(target=writer_main, daemon=True)
    writer.start()
    try:
        try:
            for result in _results(proc, node, feed_name):
                yield result
        except Exception:
            writer.join()
            if failure:
                raise failure[0]
            raise
        writer.join()
        if failure:
            raise failure[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _write_blocks(proc, first, iterator, encoding):
    """Writes the partition; returns False if the client stopped reading (terminated feed)."""
    try:
        for block in records.blocks(first, iterator, encoding):
            proc.stdin.write(block)
        proc.stdin.close()
        return True
    except BrokenPipeError:
        return False


def _open_partition_client(info, feed_name, mode, iterator):
    """Starts the feed client for this task's partition: (proc, node, first element, encoding),
    or None for an empty partition."""
    from pyspark import TaskContext
    partition = TaskContext.get().partitionId()
    sentinel = object()
    first = next(iterator, sentinel)
    if first is sentinel:
        return None
    encoding = records.encoding_of(first)
    node = _choose_target(info, partition)
    proc = _start_client(info, node, feed_name, mode, encoding, partition)
    return proc, node, first, encoding


def feed_partition(info, feed_name):
    """foreachPartition function of train(): streams the partition to the local node."""

    def run(iterator):
        opened = _open_partition_client(info, feed_name, "train", iterator)
        if opened is None:
            return
        proc, node, first, encoding = opened
        try:
            _write_blocks(proc, first, iterator, encoding)
            _finish(proc, node, feed_name)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    return run


def infer_partition(info, feed_name):
    """mapPartitions function of inference(): one result string per element, in order."""

    def run(iterator):
        opened = _open_partition_client(info, feed_name, "inference", iterator)
        if opened is None:
            return
        proc, node, first, encoding = opened
        for text in _answers(proc, node, feed_name, lambda: _write_blocks(proc, first, iterator, encoding)):
            lines = text.decode("utf-8").split("\n")
            for line in lines[:-1]:
                yield line

    return run


# ---- DataFrames: Arrow record batches from DataFrame.mapInArrow (docs/spark.md, "DataFrames") ----

def _write_arrow(proc, pieces):
    """Writes (rows, Arrow IPC buffer) pieces as one-record blocks; returns the rows written,
    or None if the client stopped reading (terminated feed)."""
    rows = 0
    try:
        for n, ipc in pieces:
            proc.stdin.write(records.one_record_header(ipc.size))
            proc.stdin.write(ipc)
            rows += n
        proc.stdin.write(records.end_block())
        proc.stdin.close()
        return rows
    except BrokenPipeError:
        return None


def _open_arrow_client(info, feed_name, mode, pieces):
    from pyspark import TaskContext
    partition = TaskContext.get().partitionId()
    first = next(pieces, None)
    if first is None:
        return None
    node = _choose_target(info, partition)
    proc = _start_client(info, node, feed_name, mode, "arrow", partition)
    return proc, node, itertools.chain([first], pieces)


def feed_arrow(info, feed_name):
    """mapInArrow function of train(df): streams the partition's record batches to a node;
    yields the number of rows it fed."""

    def run(batches):
        import pyarrow as pa
        from pyspark import TaskContext
        partition = TaskContext.get().partitionId()
        opened = _open_arrow_client(info, feed_name, "train", columns.feed_records(batches, partition))
        rows = 0
        if opened is not None:
            proc, node, pieces = opened
            try:
                rows = _write_arrow(proc, pieces) or 0
                _finish(proc, node, feed_name)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        yield pa.RecordBatch.from_arrays([pa.array([rows], pa.int64())], names=["rows"])

    return run


def _conform(batch, schema):
    """A result batch as the declared output schema (columns by name, cast where needed)."""
    import pyarrow as pa
    arrays = []
    for field in schema:
        i = batch.schema.get_field_index(field.name)
        if i < 0:
            raise RuntimeError("inference results have the columns (%s), not the declared (%s)"
                               % (columns._schema_text(batch.schema), columns._schema_text(schema)))
        col = batch.column(i)
        if col.type != field.type:
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise RuntimeError("inference result column '%s' is %s, which does not convert to the "
                                   "declared %s: %s" % (field.name, col.type, field.type, e))
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def infer_arrow(info, feed_name, keep, result_name, schema):
    """mapInArrow function of inference(df): the kept columns and the node's results, one row
    per input row, in order, streamed back as the node answers."""

    def run(batches):
        from pyspark import TaskContext
        partition = TaskContext.get().partitionId()
        pieces = columns.feed_records(batches, partition, keep=keep, result=result_name)
        opened = _open_arrow_client(info, feed_name, "inference", pieces)
        if opened is None:
            return
        proc, node, pieces = opened
        for payload in _answers(proc, node, feed_name, lambda: _write_arrow(proc, pieces)):
            yield _conform(columns.read_record(payload), schema)

    return run
