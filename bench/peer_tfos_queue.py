"""Peer for the feed benchmark: TensorFlowOnSpark's InputMode.SPARK data path.

TFoS pushes every RDD element into a multiprocessing manager queue on the executor
(`queue.put(item, block=True)` per record, through a manager proxy) and the trainer pulls
them one by one in DataFeed.next_batch(). This reproduces that path with the same record
size so the two can be compared in one run. Prints one JSON line.
"""
import argparse
import json
import multiprocessing as mp
import time


def producer(q, records, size):
    rec = b"x" * size
    for _ in range(records):
        q.put(rec, block=True)
    q.put(None, block=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--record_bytes", type=int, default=784)
    ap.add_argument("--batch", type=int, default=100)
    a = ap.parse_args()
    mgr = mp.Manager()
    q = mgr.Queue(maxsize=1024)
    p = mp.Process(target=producer, args=(q, a.records, a.record_bytes))
    start = time.time()
    p.start()
    n = 0
    done = False
    while not done:
        batch = []
        while len(batch) < a.batch:
            item = q.get(block=True)
            if item is None:
                done = True
                break
            batch.append(item)
        n += len(batch)
    secs = time.time() - start
    p.join()
    print(json.dumps({"peer": "tfos-style manager queue", "records": n, "records_per_s": n / secs,
                      "mb_per_s": n * a.record_bytes / secs / 1e6}))


if __name__ == "__main__":
    main()
