"""The seed's mnist_dist.py in PyTorch: map_fun(args, ctx) runs on every node.

The model is the seed's (a 784-128-10 MLP, Adagrad 0.01 with TensorFlow's initial accumulator
0.1, batch 100), the same as the C++ mnist_spark's. Training:
  --strategy ps         the runtime's parameter servers (torchonspark.ps; C++ servers and
                        optimizer), the chief initializes them and saves the model;
  --strategy allreduce  torch DistributedDataParallel over Gloo, rendezvous through the job's
                        own store (ctx.init_process_group); with --allreducer ring, the
                        runtime's C++ TCP ring instead (torchonspark.allreduce).
Input: fed by Spark (InputMode.SPARK: (image, label) tuples, read as arrays) or read by each
trainer from its shard of the csv dataset (InputMode.TENSORFLOW). The model is written with
torch.save to <model>/torch/model.pt (local or HDFS); inference writes "label prediction" per
image, in order.
"""

import io
import time

import numpy as np

from torchonspark import allreduce, ps
from torchonspark.cluster import InputMode

MODEL_FILE = "torch/model.pt"


def make_model():
    import torch
    return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def fed_batch(feed, args, n):
    """(images, labels) arrays of the next fed batch, or None at the feed's end: tuple records
    as arrays (fields that are csv lines parsed in C++), tf.train.Example records (--format tfr)
    parsed in C++, or a DataFrame's columns (--format parquet: image bytes, label ints)."""
    if args.format == "parquet":
        cols = columns_of(feed).next_batch(n)
        return (cols["image"], cols["label"]) if cols else None
    if args.format == "tfr":
        cols = feed.next_batch_examples(n)
        return (cols["image"], cols["label"]) if cols else None
    batch = feed.next_batch_arrays(n, csv=True)  # csv lines from Spark are parsed in C++
    return batch if batch else None


_COLUMNS = {}


def columns_of(feed):
    """The feed's one ColumnFeed (it keeps the rows of a record it has not handed out yet)."""
    if feed.name not in _COLUMNS:
        # image: binary (784 bytes) or array<int>; label: int.
        _COLUMNS[feed.name] = feed.columns()
    return _COLUMNS[feed.name]


class Batches(object):
    """(images uint8/int [n, 784], one-hot labels [n, 10]) batches from the feed or the shard."""

    def __init__(self, args, ctx):
        self.ctx = ctx
        self.args = args
        self.fed = ctx.input_mode == InputMode.SPARK
        if self.fed:
            self.feed = ctx.get_data_feed()
        else:
            # One reader each: records then come in partition order, so images and labels pair up.
            self.images = ctx.read_shard(args.images, readers=1, epochs=args.epochs)
            self.labels = ctx.read_shard(args.labels, readers=1, epochs=args.epochs)

    def next(self, n):
        if self.fed:
            return fed_batch(self.feed, self.args, n)
        images = self.images.next_batch_csv(n)  # parsed in C++: float32 [n, 784]
        if len(images) == 0:
            return None
        labels = self.labels.next_batch_csv(len(images))
        if len(labels) != len(images):
            raise ValueError("the images and labels datasets differ in length (%d images, %d labels "
                             "in a batch)" % (len(images), len(labels)))
        return images, labels

    def stop(self):
        if self.fed and not self.feed.should_stop():
            self.feed.terminate()  # the seed's tf_feed.terminate(): Spark stops feeding this node


def forward_backward(model, batch):
    """(labels, logits, loss) of one batch, with the loss's gradients in the model."""
    import torch
    x, y = _tensors(batch)
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    return y, logits, loss


def _tensors(batch):
    import torch
    images, labels = batch
    x = torch.from_numpy(np.asarray(images, dtype=np.float32)).div_(255.0)
    labels = np.asarray(labels)
    # One-hot rows (csv, pickle, tfr) or class numbers (a DataFrame's label column).
    y = torch.from_numpy(labels).argmax(1) if labels.ndim == 2 else torch.from_numpy(labels.astype(np.int64))
    return x, y


class Reporter(object):
    def __init__(self, ctx):
        self.ctx = ctx
        self.start = time.time()
        self.samples = 0
        self.last = self.start

    def step(self, step, n, loss, logits, y):
        self.samples += n
        self.ctx.report_progress()
        if step % 100 == 0 and time.time() - self.last > 0.5:
            acc = float((logits.argmax(1) == y).float().mean())
            print("%s:%d step %d loss %.4f accuracy %.3f" % (self.ctx.job_name, self.ctx.task_index, step,
                                                            float(loss), acc), flush=True)
            self.last = time.time()

    def finish(self, step):
        secs = max(time.time() - self.start, 1e-9)
        print("%s:%d trained %d samples in %.2f s (%.0f samples/s) to step %d" % (
            self.ctx.job_name, self.ctx.task_index, self.samples, secs, self.samples / secs, step), flush=True)


def save(ctx, args, model):
    import torch
    from torchonspark import _native
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    path = ctx.absolute_path(args.model).rstrip("/") + "/" + MODEL_FILE
    _native.load().write_file(path, buf.getvalue())
    print("saved the model to %s" % path, flush=True)


def load(ctx, args):
    import torch
    from torchonspark import _native
    path = ctx.absolute_path(args.model).rstrip("/") + "/" + MODEL_FILE
    model = make_model()
    model.load_state_dict(torch.load(io.BytesIO(_native.load().read_file(path))))
    return model


def train_ps(args, ctx):
    model = make_model()
    client = ps.PsClient(ctx, model)
    if ctx.is_chief:
        client.initialize("adagrad", learning_rate=args.learning_rate, initial_accumulator=0.1)
    client.wait_initialized()
    batches, report = Batches(args, ctx), Reporter(ctx)
    step = client.global_step
    while step < args.steps:
        batch = batches.next(args.batch_size)
        if batch is None:
            break
        model.zero_grad()
        y, logits, loss = forward_backward(model, batch)
        client.push()
        step = client.global_step
        report.step(step, len(y), loss, logits, y)
    batches.stop()
    client.leave()
    report.finish(step)
    # The final model must hold every trainer's last update, not only the chief's.
    ctx.wait_for_trainers("training done")
    if ctx.is_chief:
        client.pull()
        save(ctx, args, model)


def train_ring(args, ctx):
    import torch
    model = make_model()
    ar = allreduce.Allreducer(ctx, model)
    ar.broadcast_parameters(0)
    opt = torch.optim.Adagrad(model.parameters(), lr=args.learning_rate, initial_accumulator_value=0.1)
    batches, report = Batches(args, ctx), Reporter(ctx)
    step = 0
    while step < args.steps:
        # All trainers step together and stop together as soon as one runs out of data.
        batch = batches.next(args.batch_size)
        opt.zero_grad()
        if batch is not None:
            y, logits, loss = forward_backward(model, batch)
        if not ar.average_gradients(more=batch is not None):
            break
        opt.step()
        step += 1
        report.step(step, len(y), loss, logits, y)
    batches.stop()
    report.finish(step)
    checksum = sum(float(p.double().sum()) for p in model.parameters())
    print("parameter checksum %.17g at step %d" % (checksum, step), flush=True)
    if ctx.is_chief:
        save(ctx, args, model)


def train_allreduce(args, ctx):
    import torch
    if args.allreducer == "ring":
        return train_ring(args, ctx)
    ctx.init_process_group("gloo")
    model = torch.nn.parallel.DistributedDataParallel(make_model())
    opt = torch.optim.Adagrad(model.parameters(), lr=args.learning_rate, initial_accumulator_value=0.1)
    batches, report = Batches(args, ctx), Reporter(ctx)
    step = 0
    # join(): a trainer whose data ends first shadows the others' collectives, so all finish.
    with model.join():
        while step < args.steps:
            batch = batches.next(args.batch_size)
            if batch is None:
                break
            opt.zero_grad()
            y, logits, loss = forward_backward(model, batch)
            opt.step()
            step += 1
            report.step(step, len(y), loss, logits, y)
    batches.stop()
    report.finish(step)
    checksum = sum(float(p.double().sum()) for p in model.module.parameters())
    print("parameter checksum %.17g at step %d" % (checksum, step), flush=True)
    if ctx.is_chief:
        save(ctx, args, model.module)
    torch.distributed.destroy_process_group()


def inference(args, ctx):
    import torch
    model = load(ctx, args)
    model.eval()
    feed = ctx.get_data_feed()
    with torch.no_grad():
        while True:
            batch = fed_batch(feed, args, args.batch_size)
            if batch is None:
                break
            x, y = _tensors(batch)
            pred = model(x).argmax(1)
            if args.format == "parquet":  # a prediction column beside the DataFrame's label
                columns_of(feed).batch_results(pred.numpy())
            else:
                feed.batch_results(["%d %d" % (l, p) for l, p in zip(y.tolist(), pred.tolist())])
            ctx.report_progress()


def map_fun(args, ctx):
    import torch
    torch.set_num_threads(max(1, ctx.threads))
    torch.manual_seed(args.seed)
    if ctx.job_name == "ps":
        return ps.serve(ctx)
    if ctx.job_name == "evaluator":
        ctx.wait_for_stop()
        return
    if args.mode == "inference":
        return inference(args, ctx)
    if args.strategy == "allreduce":
        return train_allreduce(args, ctx)
    return train_ps(args, ctx)
