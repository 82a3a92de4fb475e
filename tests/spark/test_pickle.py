"""PySpark pickle files both ways with real PySpark: what mnist_data_setup --format pickle
writes loads with sc.pickleFile, and what saveAsPickleFile writes (numpy arrays, plain lists)
reads back in C++ (mnist_data_setup --read verifies every record against the IDX source)."""

import os
import struct
import subprocess

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(240)


def write_idx(dirname, n_train=120, n_test=40):
    rng = np.random.default_rng(7)
    data = {}
    os.makedirs(dirname, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        with open(os.path.join(dirname, "%s-images-idx3-ubyte" % prefix), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes())
        with open(os.path.join(dirname, "%s-labels-idx1-ubyte" % prefix), "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + labels.tobytes())
        data["train" if prefix == "train" else "test"] = (images.reshape(n, 784), labels)
    return data


def tool(bin_dir, *args):
    r = subprocess.run([os.path.join(bin_dir, "mnist_data_setup")] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    return r.returncode, r.stdout.decode()


@pytest.fixture
def bin_dir():
    from conftest import BIN
    return BIN


def test_cpp_written_pickle_loads_in_pyspark(sc, bin_dir, tmp_path):
    src = write_idx(str(tmp_path / "idx"))
    out = str(tmp_path / "out")
    code, text = tool(bin_dir, "--input", str(tmp_path / "idx"), "-o", out, "-f", "pickle", "-n", "3")
    assert code == 0, text
    for split in ("train", "test"):
        # Hadoop lists a directory's parts in no set order: compare (image, label) pairs as
        # the seed's images.zip(labels) forms them.
        pairs = sc.pickleFile(os.path.join(out, split, "images")).zip(
            sc.pickleFile(os.path.join(out, split, "labels"))).collect()
        want_images, want_labels = src[split]
        assert len(pairs) == len(want_images)
        assert all(i.dtype == np.uint8 and i.shape == (784,) for i, _ in pairs)
        assert all(l.dtype == np.float64 and l.shape == (10,) and l.sum() == 1 for _, l in pairs)
        got = sorted((i.tobytes(), int(np.argmax(l))) for i, l in pairs)
        want = sorted((i.tobytes(), int(l)) for i, l in zip(want_images, want_labels))
        assert got == want
        # Within a part, order is kept.
        first = sc.pickleFile(os.path.join(out, split, "images", "part-00000")).collect()
        assert np.array_equal(np.stack(first), want_images[:len(first)])


@pytest.mark.parametrize("as_lists", [False, True])
def test_pyspark_written_pickle_reads_in_cpp(sc, bin_dir, tmp_path, as_lists):
    src = write_idx(str(tmp_path / "idx"))
    out = str(tmp_path / "out")
    for split in ("train", "test"):
        images, labels = src[split]
        one_hot = np.eye(10)[labels]
        if as_lists:
            img_rows = [[int(x) for x in row] for row in images]
            lab_rows = [[float(x) for x in row] for row in one_hot]
        else:
            img_rows = list(images)
            lab_rows = list(one_hot)
        sc.parallelize(img_rows, 4).saveAsPickleFile(os.path.join(out, split, "images"))
        sc.parallelize(lab_rows, 4).saveAsPickleFile(os.path.join(out, split, "labels"))
    code, text = tool(bin_dir, "--input", str(tmp_path / "idx"), "-o", out, "-f", "pickle", "--read")
    assert code == 0, text
    assert text.count("verified: every record matches the IDX source in order") == 2, text


def test_unsupported_pickle_content_is_refused_clearly(sc, bin_dir, tmp_path):
    src = write_idx(str(tmp_path / "idx"))
    out = str(tmp_path / "out")
    for split in ("train", "test"):
        n = len(src[split][1])
        sc.parallelize([{"pixels": i} for i in range(n)], 2).saveAsPickleFile(os.path.join(out, split, "images"))
        sc.parallelize([i % 10 for i in range(n)], 2).saveAsPickleFile(os.path.join(out, split, "labels"))
    code, text = tool(bin_dir, "--input", str(tmp_path / "idx"), "-o", out, "-f", "pickle", "--read")
    assert code != 0
    assert "images/part-00000: byte 95: pickle 0 of the record: byte" in text, text
    assert "unsupported pickle opcode 0x7d ('}')" in text, text
