"""Local mode: a TorchOnSpark job of Python training functions on this machine, with no Spark.

    cluster = torchonspark.local.run(map_fun, args, num_executors=3, num_ps=1)
    cluster.train(zip(images, labels), num_epochs=2)   # or a partitioned text directory
    cluster.shutdown()

The driver is the runtime's own (tos::Cluster with the local launcher, through the extension
module); each node is `python -m torchonspark.node`, as on Spark.
"""

import os
import shutil
import sys
import tempfile

from . import _native, records
from .cluster import InputMode, TorchOnSparkError, _pickle_map_fun


class LocalCluster(object):
    """A running local job (TFCluster's API, with in-memory or file data)."""

    def __init__(self, native, workdir, num_workers):
        self._c = native
        self._workdir = workdir
        self._num_workers = num_workers
        self.cluster_spec = native.cluster_spec
        self._done = False

    def _call(self, fn, *args):
        tos = _native.load()
        try:
            return fn(*args)
        except tos.Error as e:
            raise TorchOnSparkError(str(e)) from None

    def _partitions(self, data, num_partitions):
        """(partitions of encoded records, encoding) for an iterable of elements."""
        items = data if isinstance(data, (list, tuple)) else list(data)
        if not items:
            raise ValueError("no data to feed")
        encoding = records.encoding_of(items[0])
        n = max(1, min(num_partitions or self._num_workers, len(items)))
        size = (len(items) + n - 1) // n
        parts = [[records.encode(e, encoding) for e in items[i:i + size]] for i in range(0, len(items), size)]
        return parts, encoding

    def train(self, data, num_epochs=1, qname="input", num_partitions=None):
        """Feeds `data` num_epochs times to the trainers' feed `qname`, then ends it. data: an
        iterable of elements (str, bytes, or tuples/lists of numbers, strings and numpy arrays,
        as in an RDD) cut into num_partitions partitions (default: one per trainer), or the
        path of a partitioned text directory (each line is one str record)."""
        if isinstance(data, str):
            self._call(self._c.train_dir, data, int(num_epochs), qname)
            return
        parts, encoding = self._partitions(data, num_partitions)
        self._call(self._c.train, parts, encoding, int(num_epochs), qname)

    def inference(self, data, qname="input", output_dir=None, num_partitions=None):
        """Feeds `data` to the trainers' feed `qname` for inference and returns their results,
        one string per element in order; with output_dir they are written there as
        part-NNNNN files (and _SUCCESS) instead, and None is returned."""
        parts, encoding = self._partitions(data, num_partitions)
        out = output_dir or tempfile.mkdtemp(prefix="results-", dir=self._workdir)
        self._call(self._c.inference, parts, encoding, out, qname, output_dir is None)
        if output_dir:
            return None
        results = []
        for name in sorted(n for n in os.listdir(out) if n.startswith("part-")):
            with open(os.path.join(out, name), encoding="utf-8") as f:
                results.extend(line.rstrip("\n") for line in f)
        shutil.rmtree(out, ignore_errors=True)
        return results

    def shutdown(self, grace_secs=0, timeout=259200):
        """Waits for the trainers to finish, stops ps and evaluator nodes. Raises
        TorchOnSparkError naming the node if any failed."""
        if self._done:
            return
        self._done = True
        try:
            self._call(self._c.shutdown, int(grace_secs), int(timeout))
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def tensorboard_url(self):
        return self._c.tensorboard_url or None


def run(map_fun, tf_args, num_executors, num_ps, tensorboard=False, input_mode=InputMode.SPARK,
        log_dir=None, master_node=None, reservation_timeout=600, eval_node=False, feed_timeout=600,
        node_timeout=60, threads_per_node=1, gpus_per_node=0):
    """Starts num_executors local nodes running map_fun(tf_args, ctx) and returns when all
    registered (TFCluster.run's arguments, without a SparkContext).

    gpus_per_node: gives each trainer (chief, worker) this many of the GPUs this process sees
      (its CUDA_VISIBLE_DEVICES if set, else those `nvidia-smi -L` lists), in order, as the
      node's CUDA_VISIBLE_DEVICES; ps and evaluator nodes get none. Too few GPUs raise
      TorchOnSparkError before any node starts, naming gpus_per_node, how many it asks for and
      how many are visible. 0: the nodes keep this process's CUDA_VISIBLE_DEVICES."""
    if int(gpus_per_node) < 0:
        raise ValueError("gpus_per_node must be 0 or more, not %s" % gpus_per_node)
    blob = _pickle_map_fun(map_fun, tf_args)
    workdir = tempfile.mkdtemp(prefix="torchonspark-local-")
    funfile = os.path.join(workdir, "map_fun.pickle")
    with open(funfile, "wb") as f:
        f.write(blob)
    options = {
        "num_executors": int(num_executors), "num_ps": int(num_ps), "master_node": bool(master_node),
        "eval_node": bool(eval_node), "input_mode": int(input_mode), "tensorboard": bool(tensorboard),
        "log_dir": log_dir or "tos_logs", "reservation_timeout": int(reservation_timeout),
        "feed_timeout": int(feed_timeout), "node_timeout": int(node_timeout),
        "threads_per_node": int(threads_per_node), "gpus_per_node": int(gpus_per_node),
    }
    tos = _native.load()
    try:
        native = tos.start_local(options, sys.executable, ["-m", "torchonspark.node", funfile],
                                 _native.child_env())
    except tos.Error as e:
        shutil.rmtree(workdir, ignore_errors=True)
        raise TorchOnSparkError(str(e)) from None
    trainers = int(num_executors) - int(num_ps) - (1 if eval_node else 0)
    return LocalCluster(native, workdir, max(1, trainers))
