"""HDFS throughput on a real single-node HDFS (scripts/hdfs_cluster.sh) on loopback, next to the
local disk and next to a peer measured in the same run: the `hdfs` Python package (HdfsCLI),
which also speaks WebHDFS.

- write: mnist_data_setup writing the csv and tfr datasets (train + test) to a local directory
  and to HDFS, MB/s of the files written;
- read: one direct-mode worker (bench_direct_read: ShardReader, records parsed) over the train
  split, 1 and 2 readers, csv and tfr, local disk and HDFS; records/s and MB/s;
- peer: HdfsCLI reading the same part files, as raw bytes (1 MiB chunks: the datanode's
  ceiling, nothing parsed) and as records a Python program iterates (csv lines, TFRecord
  records); MB/s.

Prints one table and the ratios the targets are about (HDFS/local records/s, ours/peer MB/s).
Usage: python bench/bench_hdfs.py [BIN_DIR]"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "hdfs"))
import hdfs_cluster  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin")
USER = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")


def timed(args, env):
    start = time.monotonic()
    r = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(args), r.stdout.decode(errors="replace")[-3000:]))
    return time.monotonic() - start, r.stdout.decode()


def du(path, env):
    _, out = timed([os.path.join(BIN, "tos_fs"), "du", path], env)
    return int(out.split()[0])


def read(fmt, root, readers, env):
    args = [os.path.join(BIN, "bench_direct_read"), "--format", fmt, "--readers", str(readers), "--repeat", "3"]
    if fmt == "csv":
        args += ["--images", root + "/train/images", "--labels", root + "/train/labels"]
    else:
        args += ["--images", root + "/train"]
    best = None
    for _ in range(2):  # the better of two runs: the first also warms the page cache and the JVM
        _, out = timed(args, env)
        r = json.loads(out.strip().splitlines()[-1])
        if best is None or r["records_per_s"] > best["records_per_s"]:
            best = r
    return best


def peer_read(client, paths, readers, mode):
    """HdfsCLI over the part files, `readers` files at a time; returns (MB/s, bytes). mode:
    "bytes" (1 MiB chunks, nothing parsed), "lines" (the text lines a Python reader iterates),
    "tfrecords" (each record's length and bytes, as a Python reader without TensorFlow does;
    CRCs not checked)."""
    def one(path):
        n = 0
        if mode == "lines":
            with client.read(path, encoding="utf-8", delimiter="\n") as reader:
                for line in reader:
                    n += len(line) + 1
        elif mode == "tfrecords":
            with client.read(path) as reader:
                while True:
                    header = reader.read(12)
                    if len(header) < 12:
                        break
                    length = struct.unpack("<Q", header[:8])[0]
                    record = reader.read(length + 4)
                    n += 12 + len(record)
        else:
            with client.read(path, chunk_size=1 << 20) as reader:
                for chunk in reader:
                    n += len(chunk)
        return n
    start = time.monotonic()
    with ThreadPoolExecutor(readers) as pool:
        total = sum(pool.map(one, paths))
    return total / (time.monotonic() - start) / 1e6, total


def main():
    from hdfs import InsecureClient

    work = tempfile.mkdtemp(prefix="tos-bench-hdfs-")
    cluster = hdfs_cluster.start(os.path.join(work, "hdfs"))
    try:
        cluster.wait()
        env = cluster.env()
        home = "%s/user/%s/bench" % (cluster.default_fs, USER)
        rows = []
        ratios = []
        for fmt in ("csv", "tfr"):
            local, remote = "file://" + os.path.join(work, fmt), "%s/%s" % (home, fmt)
            setup = [os.path.join(BIN, "mnist_data_setup"), "--format", fmt, "--num-partitions", "10", "--output"]
            t_local, _ = timed(setup + [local], env)
            t_hdfs, _ = timed(setup + [remote], env)
            size = du(remote, env)
            rows.append(("write %s (mnist_data_setup, train+test)" % fmt, "local", "%.1f MB/s" % (size / t_local / 1e6),
                         "%.2f s" % t_local))
            rows.append(("write %s (mnist_data_setup, train+test)" % fmt, "hdfs", "%.1f MB/s" % (size / t_hdfs / 1e6),
                         "%.2f s" % t_hdfs))
            for readers in (1, 2):
                lr = read(fmt, local, readers, env)
                hr = read(fmt, remote, readers, env)
                for where, r in (("local", lr), ("hdfs", hr)):
                    rows.append(("read %s, %d reader%s" % (fmt, readers, "s" if readers > 1 else ""), where,
                                 "%.0f rec/s, %.1f MB/s" % (r["records_per_s"], r["mb_per_s"]), "%.2f s" % r["seconds"]))
                ratios.append(("%s %d reader(s): hdfs/local records/s" % (fmt, readers),
                               hr["records_per_s"] / lr["records_per_s"], 0.5))
                # The peer reads the same files.
                client = InsecureClient("http://" + cluster.webhdfs[0], user=USER)
                path = "/user/%s/bench/%s/train" % (USER, fmt)
                dirs = [path + "/images", path + "/labels"] if fmt == "csv" else [path]
                parts = [d + "/" + n for d in dirs for n in sorted(client.list(d)) if n.startswith("part-")]
                raw, _ = peer_read(client, parts, readers, "bytes")
                rows.append(("read %s, %d reader(s)" % (fmt, readers), "peer HdfsCLI bytes", "%.1f MB/s" % raw, ""))
                ratios.append(("%s %d reader(s): ours/HdfsCLI bytes MB/s" % (fmt, readers), hr["mb_per_s"] / raw, 5.0))
                mode = "lines" if fmt == "csv" else "tfrecords"
                recs, _ = peer_read(client, parts, readers, mode)
                rows.append(("read %s, %d reader(s)" % (fmt, readers), "peer HdfsCLI " + mode, "%.1f MB/s" % recs, ""))
                ratios.append(("%s %d reader(s): ours/HdfsCLI %s MB/s" % (fmt, readers, mode), hr["mb_per_s"] / recs, 5.0))
        width = max(len(r[0]) for r in rows) + 2
        for r in rows:
            print("%-*s %-20s %-28s %s" % (width, r[0], r[1], r[2], r[3]))
        print()
        for name, value, target in ratios:
            print("%-50s %6.2fx  (target >= %.1fx: %s)" % (name, value, target, "met" if value >= target else "NOT met"))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
