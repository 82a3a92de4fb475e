"""What a user sees when HDFS is not as expected: each case fails fast with a message naming the
path (and the namenode or datanode) and saying what to do; never a hang, never a short file."""

import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN, USER, run

pytestmark = pytest.mark.timeout(600)


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fails(args, env, *needles, within=60):
    start = time.monotonic()
    code, text = run(args, env, check=False, timeout=within + 30)
    took = time.monotonic() - start
    assert code != 0, text
    for n in needles:
        assert n in text, "%r not in:\n%s" % (n, text[-3000:])
    assert took < within, "took %.1f s:\n%s" % (took, text[-2000:])
    return text


def test_namenode_unreachable(hdfs):
    port = closed_port()
    fails(["tos_fs", "ls", "webhdfs://127.0.0.1:%d/user" % port], hdfs.env(),
          "webhdfs://127.0.0.1:%d/user" % port, "namenode 127.0.0.1:%d" % port, "check that the namenode runs",
          within=30)
    # A job is refused before any node starts.
    fails(["mnist_spark", "--cluster_size", "2", "--format", "csv2",
           "--images", "webhdfs://127.0.0.1:%d/data" % port, "--model", "m"], hdfs.env(),
          "webhdfs://127.0.0.1:%d/data" % port, "check that the namenode runs", within=30)


def test_missing_file(hdfs):
    uri = "%s/user/%s/no/such/file" % (hdfs.default_fs, USER)
    fails(["tos_fs", "cat", uri], hdfs.env(), uri, "no such file or directory on HDFS")
    fails(["mnist_spark", "--cluster_size", "2", "--format", "csv2", "--images", "no/such/dataset",
           "--model", "m"], hdfs.env(), "/user/%s/no/such/dataset" % USER)


def test_permission_denied(hdfs):
    # A directory owned by another user with mode 700 (set up by the superuser).
    hdfs.rest("PUT", "/user/alice/private", "MKDIRS")
    hdfs.rest("PUT", "/user/alice/private", "SETOWNER", owner="alice")
    hdfs.rest("PUT", "/user/alice/private", "SETPERMISSION", permission="700")
    uri = hdfs.default_fs + "/user/alice/private"
    fails(["tos_fs", "ls", uri], hdfs.env(HADOOP_USER_NAME="bob"), uri,
          "permission denied for HDFS user 'bob'", "HADOOP_USER_NAME")
    fails(["mnist_data_setup", "--format", "csv2", "--output", uri + "/mnist"], hdfs.env(HADOOP_USER_NAME="bob"),
          "permission denied for HDFS user 'bob'")
    # The owner may.
    run(["tos_fs", "mkdir", uri + "/ok"], hdfs.env(HADOOP_USER_NAME="alice"))


def test_no_hadoop_conf_for_a_relative_path_on_hdfs(hdfs, tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "core-site.xml").write_text("<configuration><property><name>fs.defaultFS</name>")
    fails(["tos_fs", "ls", "mnist"], hdfs.env(HADOOP_CONF_DIR=str(conf)), str(conf / "core-site.xml"),
          "not valid XML")


def write_conf(path, hdfs_ha, order):
    """A HADOOP_CONF_DIR for the HA cluster listing its namenodes in `order` (indexes)."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(hdfs_ha.conf_dir, "hdfs-site.xml")) as f:
        site = f.read()
    site = site.replace("<value>nn1,nn2</value>", "<value>%s</value>" % ",".join("nn%d" % (i + 1) for i in order))
    with open(os.path.join(path, "hdfs-site.xml"), "w") as f:
        f.write(site)
    with open(os.path.join(hdfs_ha.conf_dir, "core-site.xml")) as f, open(os.path.join(path, "core-site.xml"), "w") as g:
        g.write(f.read())
    return path


def test_standby_namenode_moves_to_the_active_one(hdfs_ha, tmp_path):
    # The standby namenode listed first: its answer moves the client to the other one.
    conf = write_conf(str(tmp_path / "standby_first"), hdfs_ha, [1, 0])
    run(["tos_fs", "mkdir", "hdfs://tosns/user/%s/ha" % USER], hdfs_ha.env(HADOOP_CONF_DIR=conf))
    run(["tos_fs", "put", os.path.join(BIN, "tos_fs"), "hdfs://tosns/user/%s/ha/tos_fs" % USER],
        hdfs_ha.env(HADOOP_CONF_DIR=conf))
    _, text = run(["tos_fs", "ls", "ha"], hdfs_ha.env(HADOOP_CONF_DIR=conf))
    assert "hdfs://tosns/user/%s/ha/tos_fs" % USER in text, text
    # Only the standby: said so, with what to do.
    conf = write_conf(str(tmp_path / "standby_only"), hdfs_ha, [1])
    fails(["tos_fs", "ls", "ha"], hdfs_ha.env(HADOOP_CONF_DIR=conf), "hdfs://tosns/user/%s/ha" % USER,
          "standby", "every namenode is standby")


def big_file(hdfs_ha, tmp_path, name, mb):
    local = str(tmp_path / name)
    with open(local, "wb") as f:
        f.write(os.urandom(mb << 20))
    uri = "hdfs://tosns/user/%s/%s" % (USER, name)
    run(["tos_fs", "put", local, uri], hdfs_ha.env())
    return local, uri


def test_datanode_that_cannot_be_reached(hdfs_ha, tmp_path):
    _, uri = big_file(hdfs_ha, tmp_path, "dn.bin", 2)
    hdfs_ha.control("stop-datanode")
    try:
        fails(["tos_fs", "cat", uri], hdfs_ha.env(), uri, "the datanode 127.0.0.1:",
              "check that the datanode runs", within=60)
    finally:
        hdfs_ha.control("restart-datanode")
    code, text = run(["tos_fs", "du", uri], hdfs_ha.env())
    assert "2097152 bytes" in text, text


def test_namenode_stopped_in_the_middle_of_a_read(hdfs_ha, tmp_path):
    """Runs last in this file: it stops the HA cluster's namenodes for good."""
    local, uri = big_file(hdfs_ha, tmp_path, "big.bin", 48)
    proc = subprocess.Popen([os.path.join(BIN, "tos_fs"), "cat", uri], env=hdfs_ha.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.read(1 << 20)  # the read is under way; the pipe holds back the rest
    assert len(first) == 1 << 20
    hdfs_ha.control("stop-namenode")
    stopped = time.monotonic()
    got = [first]
    reader = threading.Thread(target=lambda: got.append(proc.stdout.read()))
    reader.start()
    err = proc.stderr.read().decode(errors="replace")
    proc.wait(timeout=120)
    reader.join(timeout=30)
    took = time.monotonic() - stopped
    data = b"".join(got)
    assert proc.returncode != 0, "the read went on without a namenode (%d bytes)" % len(data)
    assert uri in err and "namenode" in err, err
    assert took < 60, "failed after %.1f s: %s" % (took, err)
    with open(local, "rb") as f:
        assert data == f.read(len(data))  # what came out is the file's beginning, unchanged
    assert len(data) < 48 << 20
