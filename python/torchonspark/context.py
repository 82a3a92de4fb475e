"""What a Python training function sees: its node's context (TFoS's TFNodeContext) and data
feeds (TFoS's DataFeed), over the runtime's C++ objects (torchonspark._tos)."""

import datetime
import threading

from . import _native


def _result_text(r):
    if isinstance(r, str):
        return r
    if type(r).__module__ == "numpy" and hasattr(r, "ravel"):
        return " ".join(str(v) for v in r.ravel().tolist())  # str() of a long array wraps lines
    return str(r)


class DataFeed(object):
    """A node's named feed (TFoS TFNode.DataFeed): records streamed by the driver or Spark.

    `DataFeed(ctx.mgr)` and `ctx.get_data_feed()` give the same object for the same name."""

    def __init__(self, mgr, train_mode=True, qname_in="input", qname_out="output", input_mapping=None):
        self._ctx = mgr
        self._feed = mgr._native.data_feed(qname_in)
        # The runtime's feed has one consumer at a time: Python threads take turns.
        self._lock = threading.Lock()
        self.train_mode = train_mode
        self.qname_in = qname_in

    @property
    def name(self):
        return self._feed.name

    def next_batch(self, batch_size):
        """Up to batch_size records as a list (str for text records, bytes for bytes records,
        tuples for tuple records: a numeric field of one element is an int or float, of more
        a numpy array). An empty list means the feed is over. The GIL is released while it
        waits."""
        with self._lock:
            return self._feed.next_batch(batch_size)

    def next_batch_arrays(self, batch_size, csv=False):
        """The columnar form, for tuple records: a tuple with one numpy array per field,
        stacked over the batch (e.g. images uint8[n, 784], labels float64[n, 10]; a field of
        one element gives shape [n]), built in C++ with no Python object per record. A string
        or bytes field is a list; with csv=True a string field is a row of comma-separated
        numbers, parsed in C++ into float32[n, columns] (so Spark can send csv lines as they
        are, unparsed). An empty tuple means the feed is over."""
        with self._lock:
            return self._feed.next_batch_arrays(batch_size, bool(csv))

    def next_batch_examples(self, batch_size):
        """For bytes records holding tf.train.Example protos (e.g. a TFRecord dataset's
        records): a dict of one column per feature, parsed in C++ (int64 features as
        int64[n, k], float features as float32[n, k], [n] when k is 1; bytes features as a
        list). An empty dict means the feed is over."""
        with self._lock:
            return self._feed.next_batch_examples(batch_size)

    def columns(self, expect=None):
        """For a DataFrame feed (cluster.train(df) / inference(df)): a ColumnFeed whose
        next_batch(n) gives n rows as NumPy columns (torchonspark.columns)."""
        from .columns import ColumnFeed
        return ColumnFeed(self, expect)

    def _next_records(self, batch_size):
        with self._lock:
            return self._feed.next_records(batch_size)

    def _send_results(self, results):
        with self._lock:
            self._feed.batch_results(results)

    def should_stop(self):
        """True once the feed ended and every record was consumed, or after terminate()."""
        return self._feed.should_stop()

    def batch_results(self, results):
        """Inference: one result per record of the last batch, in order, each written as one
        line of the output: str(result), and a NumPy array as its values joined by spaces."""
        texts = [_result_text(r) for r in results]
        with self._lock:
            self._feed.batch_results(texts)

    def terminate(self):
        """Stops this feed now: the sender stops, buffered records are dropped."""
        self._feed.terminate()

    @property
    def records_consumed(self):
        return self._feed.records_consumed


def _make_store_class():
    """torch.distributed's Store over the driver's authenticated rendezvous store."""
    import torch.distributed as dist

    class JobStore(dist.Store):
        def __init__(self, client, prefix, timeout_s):
            super().__init__()
            self._c = client
            self._prefix = prefix
            self._timeout_ms = int(timeout_s * 1000)

        def set(self, key, value):
            if isinstance(value, str):
                value = value.encode("utf-8")
            self._c.set(self._prefix + key, bytes(value))

        def get(self, key):
            return self._c.get(self._prefix + key, self._timeout_ms)

        def add(self, key, amount):
            return self._c.add(self._prefix + key, int(amount))

        def wait(self, keys, timeout=None):
            ms = self._timeout_ms if timeout is None else int(timeout.total_seconds() * 1000)
            for k in keys:
                self._c.get(self._prefix + k, ms)

        def check(self, keys):
            try:
                for k in keys:
                    self._c.get(self._prefix + k, 0)
                return True
            except RuntimeError:
                return False

    return JobStore


class NodeContext(object):
    """What map_fun(args, ctx) gets: TFoS's TFNodeContext for this node."""

    def __init__(self, native):
        self._native = native
        self.executor_id = native.executor_id
        self.worker_num = native.executor_id  # TFoS name
        self.job_name = native.job_name
        self.task_index = native.task_index
        self.cluster_spec = dict(native.cluster_spec)
        self.num_executors = native.num_executors
        self.num_workers = native.num_workers
        self.worker_index = native.worker_index
        self.is_chief = native.is_chief
        self.input_mode = native.input_mode
        self.default_fs = native.default_fs
        self.defaultFS = self.default_fs  # TFoS name
        self.working_dir = native.working_dir
        self.log_dir = native.log_dir
        self.threads = native.threads
        self.mgr = self  # DataFeed(ctx.mgr), as in TFoS
        self._feeds = {}
        self._store = None
        self._device = None

    @property
    def device(self):
        """The torch.device this node computes on: cuda:0 when torch.cuda.is_available() (which
        sees only the GPUs the node was given: on Spark those of its task, with
        spark.task.resource.gpu.amount; in local mode those of gpus_per_node), else cpu.
        torch is imported on first use."""
        if self._device is None:
            import torch
            self._device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
        return self._device

    def absolute_path(self, path):
        """TFoS's rules: a path with a scheme is kept; others resolve against default_fs."""
        return self._native.absolute_path(path)

    def get_data_feed(self, name="input", train_mode=True):
        feed = self._feeds.get(name)
        if feed is None:
            feed = DataFeed(self, train_mode, qname_in=name)
            self._feeds[name] = feed
        return feed

    def read_shard(self, path, readers=1, epochs=1, shuffle_buffer=0, seed=1):
        """Direct mode (InputMode.TENSORFLOW): this trainer's shard of the partitioned text
        dataset at `path` (part p belongs to trainer p % num_workers; resolved as
        absolute_path does, so HDFS works), read by `readers` threads in C++. Returns an object
        whose next_batch(n) gives up to n lines (str), and [] at the end."""
        if self.worker_index < 0:
            raise ValueError("read_shard is for the trainers; this node is %s:%d" % (self.job_name, self.task_index))
        return _native.load().TextShard(self.absolute_path(path), self.worker_index, self.num_workers,
                                        int(readers), int(epochs), int(shuffle_buffer), int(seed))

    def read_parquet_shard(self, path, columns=None, epochs=1, allow_incomplete=False):
        """Direct mode on a Parquet dataset: this trainer's row groups (resolved as
        absolute_path does, so HDFS works). Returns a ParquetShard whose next_batch(n) gives up
        to n rows as NumPy columns, and {} at the end (torchonspark.columns)."""
        if self.worker_index < 0:
            raise ValueError("read_parquet_shard is for the trainers; this node is %s:%d"
                             % (self.job_name, self.task_index))
        from .columns import ParquetShard
        return ParquetShard(self.absolute_path(path), self.worker_index, self.num_workers, columns, epochs,
                            allow_incomplete)

    @property
    def host(self):
        return self._native.reserved_port().host

    @property
    def port(self):
        return self._native.reserved_port().port

    def release_port(self):
        """Frees this node's reserved port (after a server of yours bound it)."""
        self._native.reserved_port().release()

    def set_status(self, what):
        self._native.set_status(what)

    def report_progress(self, units=1):
        self._native.report_progress(units)

    def wait_for_stop(self, timeout_secs=None):
        """ps and evaluator nodes: blocks until the driver says stop (True) or the timeout."""
        return self._native.wait_for_stop(1e9 if timeout_secs is None else float(timeout_secs))

    def wait_for_trainers(self, name, timeout_secs=600):
        """The "all trainers done" barrier (see Context::WaitForTrainers in C++)."""
        self._native.wait_for_trainers(name, float(timeout_secs))

    def store(self, prefix="", timeout_secs=600):
        """A torch.distributed Store over the job's own authenticated store (no port of its
        own). Keys are shared by every node of the job."""
        client = _native.load().StoreClient(self._native.reservation_address, self._native.secret,
                                            30000)
        return _make_store_class()(client, prefix, timeout_secs)

    def init_process_group(self, backend=None, timeout=datetime.timedelta(minutes=30), name="default"):
        """Initializes torch.distributed over the trainers (chief and workers): rank is
        worker_index, world size num_workers; the rendezvous goes through the job's
        authenticated store. For DistributedDataParallel. ps and evaluator nodes may not call
        it. backend None: "nccl" when ctx.device is a GPU (made the current device), else
        "gloo"."""
        import torch.distributed as dist
        if self.worker_index < 0:
            raise ValueError("init_process_group is for the trainers (chief and workers); this node "
                             "is %s:%d" % (self.job_name, self.task_index))
        if backend is None:
            backend = "nccl" if self.device.type == "cuda" else "gloo"
        if backend == "nccl" and self.device.type == "cuda":
            import torch
            torch.cuda.set_device(self.device)
        store = self.store("torch.distributed/%s/" % name, timeout.total_seconds())
        dist.init_process_group(backend, store=store, rank=self.worker_index, world_size=self.num_workers,
                                timeout=timeout)
        return dist.group.WORLD

    def __repr__(self):
        return "NodeContext(%s:%d, executor %d)" % (self.job_name, self.task_index, self.executor_id)
