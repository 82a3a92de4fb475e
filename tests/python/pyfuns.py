"""Python training functions the Python-node tests run (on Spark: shipped with addPyFile, as a
user ships theirs with --py-files). Each trainer writes what it saw to args["out"], named by its
role, so the tests check results, not only exit statuses."""

import json
import os
import time


def results(out):
    """What each node wrote: {"worker-0": {...}, ...}."""
    return {n[:-5]: json.load(open(os.path.join(out, n))) for n in os.listdir(out) if n.endswith(".json")}


def wait_for_results(out, count, timeout=30):
    """Polls until `count` nodes wrote their results; fails the test otherwise."""
    deadline = time.time() + timeout
    while len(results(out)) < count:
        assert time.time() < deadline, "only %s wrote results within %d s" % (sorted(results(out)), timeout)
        time.sleep(0.05)
    return results(out)


def wait_gone(pid, timeout=10):
    """True once process `pid` no longer exists, False if it is still there after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def write_parts(directory, sizes):
    """A partitioned text dataset: part k holds sizes[k] lines "p<k>-<i>"."""
    os.makedirs(directory)
    for k, n in enumerate(sizes):
        with open(os.path.join(directory, "part-%05d" % k), "w") as f:
            f.write("".join("p%d-%d\n" % (k, i) for i in range(n)))
    open(os.path.join(directory, "_SUCCESS"), "w").close()


def _write(args, ctx, what):
    path = os.path.join(args["out"], "%s-%d.json" % (ctx.job_name, ctx.task_index))
    with open(path + ".tmp", "w") as f:
        json.dump(what, f)
    os.rename(path + ".tmp", path)


def _ps_or_evaluator(ctx):
    if ctx.job_name in ("ps", "evaluator"):
        ctx.wait_for_stop()
        return True
    return False


def consume(args, ctx):
    """Reads the feed to its end (list or array form) and writes the count and the sum of the
    first field."""
    if _ps_or_evaluator(ctx):
        return
    feed = ctx.get_data_feed(args.get("feed", "input"))
    count, total, shape = 0, 0.0, None
    while not feed.should_stop():
        if args.get("arrays"):
            batch = feed.next_batch_arrays(args.get("batch", 100))
            if not batch:
                break
            count += len(batch[0])
            total += float(batch[0].sum())
            shape = [list(a.shape) if hasattr(a, "shape") else len(a) for a in batch]
        else:
            batch = feed.next_batch(args.get("batch", 100))
            for r in batch:
                count += 1
                if isinstance(r, tuple):
                    total += float(r[0].sum()) if hasattr(r[0], "sum") else float(r[0])
                elif isinstance(r, str):
                    total += float(r.split(",")[0])
    _write(args, ctx, {"count": count, "sum": total, "shape": shape, "pid": os.getpid(),
                       "ctx": {"job_name": ctx.job_name, "task_index": ctx.task_index,
                               "executor_id": ctx.executor_id, "num_workers": ctx.num_workers,
                               "cluster_spec": ctx.cluster_spec, "default_fs": ctx.default_fs,
                               "absolute": ctx.absolute_path("data/x")}})


def two_feeds(args, ctx):
    """Reads feeds "a" and "b" alternately until both end."""
    if _ps_or_evaluator(ctx):
        return
    feeds = {n: ctx.get_data_feed(n) for n in ("a", "b")}
    seen = {"a": 0, "b": 0}
    while feeds:
        for name in list(feeds):
            batch = feeds[name].next_batch(7)
            if not batch:
                del feeds[name]
                continue
            assert all(r.startswith(name) for r in batch), batch[:3]
            seen[name] += len(batch)
    _write(args, ctx, seen)


def infer(args, ctx):
    """Inference: each record (i, text) gives "i:text:role"; order is the test's to check."""
    if _ps_or_evaluator(ctx):
        return
    feed = ctx.get_data_feed()
    while not feed.should_stop():
        batch = feed.next_batch(args.get("batch", 10))
        if batch:
            feed.batch_results(["%d:%s" % (r[0], r[1]) for r in batch])


def fail(args, ctx):
    """worker 1 raises after its first batch; the others read on."""
    if _ps_or_evaluator(ctx):
        return
    feed = ctx.get_data_feed()
    feed.next_batch(10)
    if ctx.job_name == "worker" and ctx.task_index == 1:
        raise ValueError("deliberate failure in worker 1")
    while not feed.should_stop():
        feed.next_batch(10)


def shard_lines(args, ctx):
    """Direct mode: reads this trainer's shard of args["data"] and writes its lines, in order."""
    if _ps_or_evaluator(ctx):
        return
    shard = ctx.read_shard(args["data"])
    lines = []
    while True:
        batch = shard.next_batch(7)
        if not batch:
            break
        lines.extend(batch)
    _write(args, ctx, {"lines": lines, "input_mode": ctx.input_mode})


def hang(args, ctx):
    """Writes its pid and sleeps (the test kills one node)."""
    _write(args, ctx, {"pid": os.getpid()})
    time.sleep(600)


def terminate_early(args, ctx):
    """Takes `take` records, then terminates its feed."""
    if _ps_or_evaluator(ctx):
        return
    feed = ctx.get_data_feed()
    got = len(feed.next_batch(args["take"]))
    feed.terminate()
    _write(args, ctx, {"count": got, "should_stop": feed.should_stop()})


def ddp(args, ctx):
    """DistributedDataParallel over the job's store: a linear model trained on the fed
    (x, y) records; writes the final parameters, which must be identical on every worker."""
    if _ps_or_evaluator(ctx):
        return
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    ctx.init_process_group("gloo")
    torch.manual_seed(ctx.worker_index)  # different on purpose: DDP broadcasts rank 0's
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    feed = ctx.get_data_feed()
    steps = 0
    for _ in range(args["steps"]):
        x, y = feed.next_batch_arrays(args["batch"])
        loss = torch.nn.functional.mse_loss(model(torch.from_numpy(x).float()),
                                            torch.from_numpy(y).float().view(-1, 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    feed.terminate()
    params = [p.detach().view(-1).tolist() for p in model.module.parameters()]
    _write(args, ctx, {"params": params, "steps": steps, "rank": dist.get_rank(),
                       "world": dist.get_world_size(), "loss": float(loss)})
    dist.destroy_process_group()


def ps_linear(args, ctx):
    """The parameter-server client on a PyTorch module: the chief initializes SGD on the ps;
    each worker pushes `steps` gradients of a fixed loss (async); every worker then pulls and
    writes the values and the global step."""
    from torchonspark import ps
    if ctx.job_name == "ps":
        return ps.serve(ctx)
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(ctx.worker_index)
    model = torch.nn.Sequential(torch.nn.Linear(6, 3), torch.nn.Linear(3, 1))
    client = ps.PsClient(ctx, model)
    if ctx.is_chief:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.5)
        client.initialize("sgd", learning_rate=0.01)
    client.wait_initialized(60)
    initial = [p.detach().view(-1).tolist() for p in model.parameters()]
    ctx.wait_for_trainers("initialized", 120)  # nobody pushes before all saw the chief's values
    x = torch.ones(4, 6)
    for _ in range(args["steps"]):
        model.zero_grad()
        model(x).sum().backward()
        client.push()
    client.leave()
    ctx.wait_for_trainers("pushed", 120)
    client.pull()
    step, state = client.state()
    _write(args, ctx, {"initial": initial, "final": [p.detach().view(-1).tolist() for p in model.parameters()],
                       "global_step": client.global_step, "state_step": step,
                       "state_names": sorted(state), "num_ps": len(ctx.cluster_spec["ps"])})


def csv_arrays(args, ctx):
    """next_batch_arrays(csv=args["csv"], default True) on (row, label, ...) records: the
    first field's shape, dtype and sum, the labels and the other fields, or the error."""
    feed = ctx.get_data_feed()
    try:
        rows, labels, *rest = feed.next_batch_arrays(1000, csv=args.get("csv", True))
        what = {"shape": list(rows.shape), "dtype": str(rows.dtype), "sum": float(rows.sum()),
                "labels": labels.tolist(),
                "rest": [[v.decode() if isinstance(v, bytes) else v for v in col] for col in rest],
                "rest_types": [type(col[0]).__name__ for col in rest]}
    except ValueError as e:
        what = {"error": str(e)}
    feed.terminate()
    _write(args, ctx, what)


def consume_columns(args, ctx):
    """DataFrame feed: reads rows with a ColumnFeed; writes the rows' ids in order, the image
    shape and the sum of the image bytes."""
    if _ps_or_evaluator(ctx):
        return
    columns = ctx.get_data_feed().columns(expect=args.get("expect"))
    ids, total, shape = [], 0, None
    try:
        while not columns.should_stop():
            batch = columns.next_batch(args.get("batch", 100))
            if not batch:
                break
            ids.extend(int(v) for v in batch["id"])
            total += int(batch["image"].astype("int64").sum())
            shape = list(batch["image"].shape) if hasattr(batch["image"], "shape") else None
    except Exception as e:
        _write(args, ctx, {"error": str(e)})
        raise
    _write(args, ctx, {"ids": ids, "sum": total, "shape": shape})


def infer_columns(args, ctx):
    """DataFrame inference: the prediction of a row is id * 2 + the image's first byte."""
    if _ps_or_evaluator(ctx):
        return
    columns = ctx.get_data_feed().columns()
    while not columns.should_stop():
        batch = columns.next_batch(args.get("batch", 64))
        if not batch:
            break
        columns.batch_results(batch["id"].astype("int64") * 2 + batch["image"][:, 0])


def collect_lines(args, ctx):
    """Writes every fed text record, in the order this node took them."""
    if _ps_or_evaluator(ctx):
        return
    feed = ctx.get_data_feed()
    lines = []
    while not feed.should_stop():
        lines.extend(feed.next_batch(args.get("batch", 100)))
    _write(args, ctx, {"lines": lines})


def die_in_first_attempt(i):
    """Spark map function: partition 1's first attempt kills its own Python worker (the feed
    task's process) in the middle of the partition, so Spark retries the task."""
    from pyspark import TaskContext
    ctx = TaskContext.get()
    if ctx.partitionId() == 1 and ctx.attemptNumber() == 0 and i == 3500:
        os.kill(os.getpid(), 9)
    # 4 KB records: the feed sends 1 MB blocks, so the node has taken some when it dies.
    return "%d:%d:%s" % (ctx.partitionId(), i, "x" * 4096)


def parquet_ids(args, ctx):
    """Direct mode on Parquet: writes the ids of this trainer's rows, in order."""
    if _ps_or_evaluator(ctx):
        return
    shard = ctx.read_parquet_shard(args["data"], columns=["id", "image"], epochs=args.get("epochs", 1))
    ids = []
    while True:
        batch = shard.next_batch(args.get("batch", 64))
        if not batch:
            break
        assert batch["image"].shape[1] == 8 and (batch["image"][:, 0] == batch["id"] % 256).all()
        ids.extend(int(v) for v in batch["id"])
    _write(args, ctx, {"ids": ids})


def write_parquet_parts(directory, sizes, group_rows):
    """Parquet parts as Spark SQL names them: ids counting up over the parts, image = 8 bytes
    of id % 256, row groups of group_rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    os.makedirs(directory)
    first = 0
    for p, n in enumerate(sizes):
        ids = list(range(first, first + n))
        table = pa.table({"id": pa.array(ids, pa.int64()),
                          "image": pa.array([bytes([i % 256]) * 8 for i in ids], pa.binary())})
        pq.write_table(table, os.path.join(directory, "part-%05d-0a1b-c000.snappy.parquet" % p),
                       row_group_size=group_rows)
        first += n
    open(os.path.join(directory, "_SUCCESS"), "w").close()


def report_gpus(args, ctx):
    """Writes the GPUs the node sees (CUDA_VISIBLE_DEVICES, None when unset), ctx.device, and
    where it runs; ps and evaluator nodes then wait for STOP."""
    _write(args, ctx, {"visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "device": str(ctx.device),
                       "cwd": os.getcwd(), "executor_id": ctx.executor_id})
    _ps_or_evaluator(ctx)
