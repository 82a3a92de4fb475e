"""Between hosts vs on one host: the same runs with the nodes on other hosts (network namespaces
joined by veth pairs and a bridge, scripts/hosts.sh) and with every process on one host's
loopback, in the same run. Prints one JSON line per comparison:

  feed       records/s into next_batch() (bench_feed: real node processes, 1-3 nodes)
  ps, allreduce
             training wall time of mnist_spark in local mode (3 nodes, 2000 steps, start-up
             included): driver on host 1, nodes on hosts 2-4, vs all on host 1
  seed_job   the seed's whole job (ps training, 1 epoch, then inference) through spark-submit on
             the four-host Spark standalone set-up of tests/hosts, vs mnist_spark in local mode

Needs root (network namespaces) and a build (build/bin). About 6 minutes on 2 cores.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "hosts"))
import conftest  # noqa: E402  (the hosts and the Spark/HDFS set-up of the multi-host tests)

BIN = os.path.join(ROOT, "build", "bin")


def timed(argv, env=None, cwd=None, timeout=900):
    start = time.time()
    r = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    took = time.time() - start
    text = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s" % (" ".join(argv), r.returncode, text[-3000:]))
    return took, text


def wrapper(hosts, directory):
    """TOS_NODE_WRAPPER that puts node i on host 2 + i % 3."""
    path = os.path.join(directory, "on-host.sh")
    lines = ["#!/bin/sh", 'case $((TOS_EXECUTOR_ID % 3)) in']
    for i in range(3):
        lines.append('  %d) exec ip netns exec %s "$@" ;;' % (i, hosts.ns(2 + i)))
    lines.append("esac")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o755)
    return path


def feed_rates(text):
    """{workers: records/s} from bench_feed's table."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\d+)\s+(\d+)\s+(\d+)\s+[0-9.]+$", line.strip())
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


def main():
    if os.geteuid() != 0:
        print(json.dumps({"bench": "hosts", "skipped": "network namespaces need root"}))
        return
    base = tempfile.mkdtemp(prefix="tos-bench-hosts-")
    hosts = conftest.Hosts(os.path.join(base, "hosts"), 4)
    try:
        wrap = wrapper(hosts, base)
        env = dict(os.environ)
        env.pop("TOS_NODE_WRAPPER", None)
        veth_env = dict(env, TOS_NODE_WRAPPER=wrap)

        # Feed: the driver on host 1 feeds the nodes over veth, or over host 1's loopback.
        feed = [os.path.join(BIN, "bench_feed"), "--records", "1000000"]
        _, lo = timed(hosts.on(1, feed), env)
        _, veth = timed(hosts.on(1, feed), veth_env)
        lo, veth = feed_rates(lo), feed_rates(veth)
        for n in sorted(set(lo) & set(veth)):
            print(json.dumps({"bench": "feed", "nodes": n, "loopback_records_s": lo[n], "veth_records_s": veth[n],
                              "veth_vs_loopback": round(veth[n] / float(lo[n]), 3)}), flush=True)

        # ps and allreduce: a fixed number of steps in local mode, nodes spread or together.
        data = os.path.join(base, "mnist")
        timed([os.path.join(BIN, "mnist_data_setup"), "--format", "csv", "--output", data, "--num-partitions", "6"])
        steps = 2000  # ps: 2 workers' batches of 100 (600 an epoch); allreduce: 3 trainers' (200)
        for name, extra in (("ps", ["--num_ps", "1", "--epochs", "5"]),
                            ("allreduce", ["--num_ps", "0", "--strategy", "allreduce", "--input_mode", "tensorflow",
                                           "--epochs", "10"])):
            argv = [os.path.join(BIN, "mnist_spark"), "--cluster_size", "3", "--format", "csv", "--steps", str(steps),
                    "--images", data + "/train/images", "--labels", data + "/train/labels"] + extra
            t_lo, _ = timed(hosts.on(1, argv + ["--model", os.path.join(base, name + "-lo")]), env,
                            cwd=hosts.host_dir(1))
            t_veth, _ = timed(hosts.on(1, argv + ["--model", os.path.join(base, name + "-veth")]), veth_env,
                              cwd=hosts.host_dir(1))
            print(json.dumps({"bench": name, "steps": steps, "loopback_s": round(t_lo, 1), "veth_s": round(t_veth, 1),
                              "veth_vs_loopback": round(t_veth / t_lo, 3)}), flush=True)
    finally:
        hosts.down()

    # The seed's job: four-host Spark standalone (with HDFS) vs local mode, same data.
    cluster_base = tempfile.mkdtemp(prefix="tos-bench-cluster-")
    hosts = conftest.Hosts(os.path.join(cluster_base, "hosts"), 4)
    try:
        cluster = conftest.start_services(hosts, cluster_base)
        uri = cluster.default_fs + "/user/root/mnist/csv"
        cluster.run(["mnist_data_setup", "--format", "csv", "--output", uri, "--num-partitions", "4"])
        example = os.path.join(ROOT, "examples", "mnist", "spark", "mnist_spark.py")
        model, out = cluster.default_fs + "/user/root/bench_model", cluster.default_fs + "/user/root/bench_pred"
        common = ["--program", os.path.join(BIN, "mnist_spark"), "--cluster_size", "3", "--format", "csv"]
        spark = 0.0
        for args in (["--num_ps", "1", "--images", uri + "/train/images", "--labels", uri + "/train/labels",
                      "--mode", "train", "--model", model],
                     ["--images", uri + "/test/images", "--labels", uri + "/test/labels", "--mode", "inference",
                      "--model", model, "--output", out]):
            cluster.wait_workers()
            t, _ = timed(hosts.on(1, cluster.submit_argv(example, common + args)), cluster.env(),
                         cwd=hosts.host_dir(1) + "/work")
            spark += t
        local = 0.0
        local_model = os.path.join(cluster_base, "local_model")
        for args in (["--num_ps", "1", "--images", uri + "/train/images", "--labels", uri + "/train/labels",
                      "--mode", "train", "--model", local_model],
                     ["--images", uri + "/test/images", "--labels", uri + "/test/labels", "--mode", "inference",
                      "--model", local_model, "--output", os.path.join(cluster_base, "local_pred")]):
            t, _ = timed(hosts.on(1, [os.path.join(BIN, "mnist_spark"), "--cluster_size", "3", "--format", "csv"]
                                  + args), cluster.env(), cwd=hosts.host_dir(1))
            local += t
        print(json.dumps({"bench": "seed_job", "four_hosts_spark_s": round(spark, 1), "local_mode_s": round(local, 1),
                          "four_hosts_vs_local": round(spark / local, 3)}), flush=True)
    finally:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "hdfs_cluster.sh"), "stop",
                        os.path.join(cluster_base, "hdfs")], timeout=120)
        hosts.down()


if __name__ == "__main__":
    main()
