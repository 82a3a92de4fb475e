"""The seed's MNIST pipeline with every path on a real HDFS, as a user types it: data setup
writes csv, csv2 and tfr datasets to HDFS and --read verifies them; direct-mode training (1 ps +
2 workers) reads them from HDFS with the model (checkpoints, export/) and TensorBoard's events
on HDFS, and a second run resumes from the checkpoint there; inference writes its predictions
to HDFS, one per test image, as accurate as the seed's job in local mode."""

import os
import re
import struct
import subprocess

import pytest

from conftest import BIN, USER, run

pytestmark = [pytest.mark.timeout(900),
              pytest.mark.skipif(not os.path.exists(os.path.join(BIN, "mnist_spark")),
                                 reason="mnist_spark is not built (TOS_WITH_TORCH=OFF)")]

# The seed's defaults (Adagrad 0.01, batch 100, 1 epoch) reach 0.770-0.777 in local mode.
SEED_ACCURACY_FLOOR = 0.74


def ls(hdfs, path, **env):
    """tos_fs ls: {name: size} of a directory's entries (directories end in '/')."""
    _, text = run(["tos_fs", "ls", path], hdfs.env(**env))
    out = {}
    for line in text.splitlines():
        size, uri = line.split(None, 1)
        name = uri.rstrip("/").rsplit("/", 1)[1] + ("/" if uri.endswith("/") else "")
        out[name] = None if size == "-" else int(size)
    return out


@pytest.fixture(scope="module")
def datasets(hdfs):
    """csv (an absolute hdfs:// URI), csv2 (relative to fs.defaultFS) and tfr (a webhdfs:// URI)
    written by mnist_data_setup; returns the URIs of the three dataset roots."""
    home = "%s/user/%s" % (hdfs.default_fs, USER)
    uris = {"csv": home + "/mnist/csv", "csv2": "mnist/csv2",
            "tfr": "webhdfs://%s/user/%s/mnist/tfr" % (hdfs.webhdfs[0], USER)}
    for fmt, uri in uris.items():
        run(["mnist_data_setup", "--format", fmt, "--output", uri, "--num-partitions", "4"], hdfs.env())
    uris["csv2"] = home + "/mnist/csv2"
    return uris


def test_data_setup_writes_verified_datasets_to_hdfs(hdfs, datasets):
    for fmt, uri in datasets.items():
        _, text = run(["mnist_data_setup", "--format", fmt, "--output", uri, "--read"], hdfs.env())
        assert re.search(r"read train \(%s\).*4 partitions" % fmt, text), text
        assert re.search(r"read test \(%s\).*4 partitions" % fmt, text), text
    entries = ls(hdfs, datasets["csv"] + "/train/images")
    assert sorted(entries) == ["_SUCCESS", "part-00000", "part-00001", "part-00002", "part-00003"], entries
    assert entries["_SUCCESS"] == 0 and all(entries["part-0000%d" % i] > 10 ** 6 for i in range(4))
    # Nothing is left under a temporary name.
    for split in ("train", "test"):
        for d in (datasets["csv2"] + "/" + split, datasets["tfr"] + "/" + split):
            assert all(n == "_SUCCESS" or re.fullmatch(r"part-\d{5}(\.tfrecord)?", n) for n in ls(hdfs, d)), d


def test_writing_over_a_dataset_is_refused(hdfs, datasets):
    code, text = run(["mnist_data_setup", "--format", "csv", "--output", datasets["csv"]], hdfs.env(), check=False)
    assert code != 0 and "already holds a dataset" in text, text


def event_scalars(hdfs, log_dir, tmp_path):
    """The (tag, step) pairs of every TensorBoard event file under log_dir, read with
    TensorBoard's own loader from local copies."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    names = [n for n in ls(hdfs, log_dir) if n.startswith("events.out.tfevents.")]
    assert names, "no event file in " + log_dir
    tags = set()
    for n in names:
        local = str(tmp_path / n)
        run(["tos_fs", "get", log_dir + "/" + n, local], hdfs.env())
        for e in EventFileLoader(local).Load():
            for v in e.summary.value:
                tags.add(v.tag)
    return tags


def labels_in_order(hdfs, labels_dir):
    """The digits of a csv labels dataset (one-hot lines), parts in order, read with tos_fs."""
    out = []
    for name in sorted(n for n in ls(hdfs, labels_dir) if n.startswith("part-")):
        _, text = run(["tos_fs", "cat", labels_dir + "/" + name], hdfs.env())
        for line in text.splitlines():
            v = [float(x) for x in line.split(",")]
            out.append(str(v.index(max(v))))
    return out


def test_train_resume_and_infer_on_hdfs(hdfs, datasets, tmp_path):
    env = hdfs.env()
    work = str(tmp_path)
    model = "mnist/model"  # relative: hdfs://NN/user/<user>/mnist/model
    model_uri = "%s/user/%s/%s" % (hdfs.default_fs, USER, model)
    train = ["mnist_spark", "--cluster_size", "3", "--num_ps", "1", "--input_mode", "tensorflow",
             "--readers", "2", "--format", "csv", "--images", "mnist/csv/train/images", "--labels", "mnist/csv/train/labels",
             "--model", model, "--checkpoint_steps", "200"]
    _, text = run(train, env, cwd=work, timeout=600)
    assert "training done" in text, text[-3000:]
    entries = ls(hdfs, model_uri)
    ckpts = sorted(n for n in entries if re.fullmatch(r"ckpt-\d{12}\.tosckpt", n))
    assert ckpts, entries
    first_step = int(ckpts[-1][5:17])
    assert first_step >= 500  # 1 epoch of 60,000 images in batches of 100 by 2 workers
    assert not [n for n in entries if ".tmp-" in n], entries
    export = ls(hdfs, model_uri + "/export")
    assert set(export) == {"model.pt", "model.json"}, export
    assert {"loss", "accuracy"} <= event_scalars(hdfs, model_uri + "/logs", tmp_path)
    # Node logs stay on the local disk.
    assert os.path.isdir(os.path.join(work, "tos_logs")), os.listdir(work)

    # Training again with the same --model resumes from the checkpoint on HDFS.
    _, text = run(train[:-2] + ["--epochs", "2", "--steps", "100000"], env, cwd=work, timeout=600)
    m = re.search(r"resuming from global step (\d+)", text)
    assert m and int(m.group(1)) == first_step, text[-3000:]
    steps = [int(n[5:17]) for n in ls(hdfs, model_uri) if re.fullmatch(r"ckpt-\d{12}\.tosckpt", n)]
    assert max(steps) > first_step + 500, steps

    # Inference (fed by the driver) writes the predictions to HDFS, in the test set's order.
    _, text = run(["mnist_spark", "--cluster_size", "2", "--mode", "inference", "--format", "csv",
                   "--images", "mnist/csv/test/images", "--labels", "mnist/csv/test/labels",
                   "--model", model, "--output", "mnist/predictions"], env, cwd=work, timeout=600)
    acc = float(re.search(r"accuracy: ([0-9.]+) \((\d+) of (\d+)\)", text).group(1))
    assert acc >= SEED_ACCURACY_FLOOR, text[-2000:]
    pred_uri = "%s/user/%s/mnist/predictions" % (hdfs.default_fs, USER)
    parts = ls(hdfs, pred_uri)
    assert "_SUCCESS" in parts and sum(1 for n in parts if n.startswith("part-")) == 4, parts
    pairs = []
    for name in sorted(n for n in parts if n.startswith("part-")):
        _, body = run(["tos_fs", "cat", pred_uri + "/" + name], env)
        pairs += [line.split() for line in body.splitlines()]
    assert len(pairs) == 10000
    assert [p[0] for p in pairs] == labels_in_order(hdfs, datasets["csv"] + "/test/labels")


def allreduce_accuracy(env, tfr, csv2, model, output, cwd):
    """Allreduce training, 2 workers reading their shards of the tfr dataset themselves, then
    direct-mode inference over csv2 whose workers write the parts; the accuracy printed."""
    _, text = run(["mnist_spark", "--cluster_size", "2", "--num_ps", "0", "--strategy", "allreduce",
                   "--input_mode", "tensorflow", "--format", "tfr", "--images", tfr + "/train",
                   "--model", model], env, cwd=cwd, timeout=600)
    assert "training done" in text, text[-3000:]
    _, text = run(["mnist_spark", "--cluster_size", "2", "--mode", "inference", "--input_mode", "tensorflow",
                   "--format", "csv2", "--images", csv2 + "/test", "--model", model, "--output", output],
                  env, cwd=cwd, timeout=600)
    m = re.search(r"accuracy: ([0-9.]+) \((\d+) of (\d+)\)", text)
    assert m and int(m.group(3)) == 10000, text[-2000:]
    return float(m.group(1))


def test_direct_mode_from_hdfs_is_as_accurate_as_from_local_files(hdfs, datasets, tmp_path):
    """The same allreduce job on the same data, files on HDFS or on the local disk: as accurate
    within what separates two runs (the initial weights are random: 0.706-0.726 seen here for
    one epoch of 300 lockstep steps)."""
    env = hdfs.env()
    local = str(tmp_path / "local")
    for fmt in ("tfr", "csv2"):
        run(["mnist_data_setup", "--format", fmt, "--output", local + "/" + fmt, "--num-partitions", "4"], env)
    want = allreduce_accuracy(env, local + "/tfr", local + "/csv2", local + "/model", local + "/pred", str(tmp_path))
    got = allreduce_accuracy(env, datasets["tfr"], datasets["csv2"],
                             "webhdfs://%s/user/%s/mnist/model_allreduce" % (hdfs.webhdfs[0], USER),
                             "mnist/predictions_direct", str(tmp_path))
    print("accuracy: hdfs %.4f, local %.4f" % (got, want))
    assert abs(got - want) <= 0.04
    assert got >= 0.65  # one epoch of lockstep steps (300 of them) trains the model


def test_a_damaged_checkpoint_on_hdfs_is_set_aside(hdfs, tmp_path):
    """A checkpoint that does not verify is never loaded: resume falls back and keeps it aside."""
    env = hdfs.env()
    model = "%s/user/%s/mnist/model_damaged" % (hdfs.default_fs, USER)
    train = ["mnist_spark", "--cluster_size", "2", "--num_ps", "0", "--strategy", "allreduce",
             "--input_mode", "tensorflow", "--format", "csv", "--images", "mnist/csv/train/images",
             "--labels", "mnist/csv/train/labels", "--model", model, "--steps", "120", "--checkpoint_steps", "50"]
    run(train, env, cwd=str(tmp_path), timeout=600)
    ckpts = sorted(n for n in ls(hdfs, model) if n.endswith(".tosckpt"))
    newest = model + "/" + ckpts[-1]
    local = str(tmp_path / "ckpt")
    run(["tos_fs", "get", newest, local], env)
    with open(local, "r+b") as f:  # one flipped byte in the middle
        f.seek(os.path.getsize(local) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(struct.pack("B", b[0] ^ 0xFF))
    run(["tos_fs", "rm", newest], env)
    run(["tos_fs", "put", local, newest], env)
    _, text = run(train[:-4] + ["--steps", "200", "--checkpoint_steps", "50"], env, cwd=str(tmp_path), timeout=600)
    assert "resuming from global step %d" % int(ckpts[-2][5:17]) in text, text[-3000:]
    assert any(n.startswith(ckpts[-1]) and n != ckpts[-1] for n in ls(hdfs, model)), ls(hdfs, model)


def parquet_from_csv2(csv2_dir, out_dir):
    """A csv2 dataset's parts as Parquet parts (image: binary, label: int32; row groups of 2000
    rows), named as Spark SQL names them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    os.makedirs(out_dir)
    parts = sorted(n for n in os.listdir(csv2_dir) if n.startswith("part-"))
    for k, name in enumerate(parts):
        labels, images = [], []
        with open(os.path.join(csv2_dir, name)) as f:
            for line in f:
                label, pixels = line.rstrip("\n").split("|")
                labels.append(int(label))
                images.append(np.array(pixels.split(","), dtype=np.uint8).tobytes())
        table = pa.table({"image": pa.array(images, pa.binary()), "label": pa.array(labels, pa.int32())})
        pq.write_table(table, os.path.join(out_dir, "part-%05d-5e1f-c000.snappy.parquet" % k),
                       row_group_size=2000)
    open(os.path.join(out_dir, "_SUCCESS"), "w").close()


def test_parquet_direct_mode_from_hdfs(hdfs, datasets, tmp_path):
    """Training in direct mode from a Parquet dataset on HDFS (each of 2 workers reads its row
    groups through the runtime's HDFS client), then inference over the csv2 test set: as
    accurate as the seed's job."""
    env = hdfs.env()
    local = str(tmp_path / "csv2")
    run(["mnist_data_setup", "--format", "csv2", "--output", "file://" + local, "--num-partitions", "3"], env)
    parquet_from_csv2(local + "/train", str(tmp_path / "parquet"))
    target = "%s/user/%s/mnist/parquet/train" % (hdfs.default_fs, USER)
    run(["tos_fs", "mkdir", target], env)
    for name in sorted(os.listdir(str(tmp_path / "parquet"))):
        run(["tos_fs", "put", str(tmp_path / "parquet" / name), target + "/" + name], env)
    model = "%s/user/%s/mnist/model_parquet" % (hdfs.default_fs, USER)
    _, text = run(["mnist_spark", "--cluster_size", "3", "--num_ps", "1", "--input_mode", "tensorflow",
                   "--format", "parquet", "--images", target, "--model", model], env, cwd=str(tmp_path),
                  timeout=600)
    assert "training done" in text, text[-3000:]
    _, text = run(["mnist_spark", "--cluster_size", "2", "--mode", "inference", "--input_mode", "tensorflow",
                   "--format", "csv2", "--images", datasets["csv2"] + "/test", "--model", model,
                   "--output", "mnist/predictions_parquet"], env, cwd=str(tmp_path), timeout=600)
    m = re.search(r"accuracy: ([0-9.]+) \((\d+) of (\d+)\)", text)
    assert m and int(m.group(3)) == 10000, text[-2000:]
    print("accuracy after training from Parquet on HDFS: %s" % m.group(1))
    assert float(m.group(1)) >= SEED_ACCURACY_FLOOR
