"""Partitioned datasets read through Spark in part-name order, whatever order the file system
lists them in: image part k is paired with label part k, and datasets whose parts differ, are
incomplete or lack a part are refused with the directory and part named."""

import os
import random

import pytest

from torchonspark import TorchOnSparkError, part_files, pickle_parts, text_parts, zip_parts

pytestmark = pytest.mark.timeout(240)

PARTS = 12
PER_PART = 5


def write_parts(directory, lines_of, names=None, success=True):
    os.makedirs(directory)
    names = list(names if names is not None else ["part-%05d" % k for k in range(PARTS)])
    # Created in a shuffled order, so the directory's listing order is not name order.
    random.Random(3).shuffle(names)
    for name in names:
        k = int(name.split("-")[1].split(".")[0])
        with open(os.path.join(directory, name), "w") as f:
            f.write("".join(line + "\n" for line in lines_of(k)))
    if success:
        open(os.path.join(directory, "_SUCCESS"), "w").close()


def images(k):
    return ["img,%d,%d" % (k, i) for i in range(PER_PART)]


def labels(k):
    return ["lbl,%d,%d" % (k, i) for i in range(PER_PART)]


def test_text_parts_come_in_name_order_one_partition_each(sc, tmp_path):
    d = str(tmp_path / "images")
    write_parts(d, images)
    rdd = text_parts(sc, d)
    assert rdd.getNumPartitions() == PARTS
    assert rdd.collect() == [line for k in range(PARTS) for line in images(k)]
    assert [name for name, _ in part_files(sc, d)] == ["part-%05d" % k for k in range(PARTS)]


def test_a_part_larger_than_a_block_stays_one_partition(sc, tmp_path):
    """Local files have 32 MiB blocks (HDFS 128 MiB, or what the cluster sets): a bigger part is
    still one partition, or its records would no longer line up with the other dataset's."""
    line = "x" * 999
    big = 40 * 1024  # 40 MiB of 1,000-byte lines
    write_parts(str(tmp_path / "big"), lambda k: [line] * (big if k == 1 else 3), names=["part-00000", "part-00001"])
    rdd = text_parts(sc, str(tmp_path / "big"))
    assert rdd.getNumPartitions() == 2
    assert rdd.glom().map(len).collect() == [3, big]


def test_zip_parts_pairs_each_image_part_with_its_label_part(sc, tmp_path):
    write_parts(str(tmp_path / "images"), images)
    write_parts(str(tmp_path / "labels"), labels)
    pairs = zip_parts(sc, str(tmp_path / "images"), str(tmp_path / "labels")).collect()
    assert len(pairs) == PARTS * PER_PART
    for n, (img, lbl) in enumerate(pairs):
        assert img.split(",")[1:] == lbl.split(",")[1:] == [str(n // PER_PART), str(n % PER_PART)]


def test_pickle_parts_come_in_name_order(sc, tmp_path):
    out = str(tmp_path / "pickled")
    # Twelve pickle parts whose listing order is whatever the file system gives.
    sc.parallelize(range(60), 12).saveAsPickleFile(out)
    assert pickle_parts(sc, out).collect() == list(range(60))


def test_parts_that_differ_are_refused_naming_them(sc, tmp_path):
    write_parts(str(tmp_path / "images"), images)
    write_parts(str(tmp_path / "labels"), labels, names=["part-%05d" % k for k in range(PARTS) if k != 5])
    with pytest.raises(TorchOnSparkError, match=r"labels: part 5 is missing \(next part is part-00006\)"):
        zip_parts(sc, str(tmp_path / "images"), str(tmp_path / "labels"))
    with pytest.raises(TorchOnSparkError, match=r"only in the first: part-00005; only in the second: none"):
        zip_parts(sc, str(tmp_path / "images"), str(tmp_path / "labels"), allow_incomplete=True)


def test_a_dataset_without_success_is_refused_unless_allowed(sc, tmp_path):
    d = str(tmp_path / "images")
    write_parts(d, images, success=False)
    with pytest.raises(TorchOnSparkError, match=r"no _SUCCESS marker.*--allow-incomplete\) reads the 12 parts"):
        text_parts(sc, d)
    assert text_parts(sc, d, allow_incomplete=True).count() == PARTS * PER_PART
    with pytest.raises(TorchOnSparkError, match="does not exist"):
        part_files(sc, str(tmp_path / "nothing"))
