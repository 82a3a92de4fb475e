#!/usr/bin/python3
"""Peer baseline: PyTorch DistributedDataParallel over Gloo on Fashion-MNIST.

MLP 784-128-10, batch 100 per process, Adagrad(lr=0.01), 3 epochs over the 60k training
images, each process one thread and its own half of the data. Prints one JSON line:
  {"peer":"pytorch-ddp-gloo","processes":2,"samples_per_s":...}
Run with the Debian interpreter: /usr/bin/python3 bench/peer_ddp.py [--processes N]
"""
import argparse
import gzip
import json
import os
import socket
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir):
    images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz")).reshape(-1, 784)
    labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.copy())


def worker(rank, world, port, args, result_queue):
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    images, labels = load(args.data_dir)
    images, labels = images[rank::world], labels[rank::world]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adagrad(ddp.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    n = images.shape[0] - images.shape[0] % args.batch
    dist.barrier()
    start = time.perf_counter()
    samples = 0
    for _ in range(args.epochs):
        for i in range(0, n, args.batch):
            x = images[i:i + args.batch].float().div_(255.0)
            y = labels[i:i + args.batch]
            opt.zero_grad()
            loss = loss_fn(ddp(x), y)
            loss.backward()
            opt.step()
            samples += x.shape[0]
    dist.barrier()
    elapsed = time.perf_counter() - start
    result_queue.put((rank, samples, elapsed, float(loss)))
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = p.parse_args()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=worker, args=(r, args.processes, port, args, q)) for r in range(args.processes)]
    for proc in procs:
        proc.start()
    results = [q.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            sys.exit("peer_ddp: a worker failed with exit code %d" % proc.exitcode)
    samples = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)
    print(json.dumps({"peer": "pytorch-ddp-gloo", "processes": args.processes,
                      "samples_per_s": round(samples / elapsed, 1), "seconds": round(elapsed, 2),
                      "final_loss": round(results[0][3], 4)}))


if __name__ == "__main__":
    main()
