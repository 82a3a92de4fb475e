"""Partitioned datasets (a directory of part-NNNNN files and a _SUCCESS marker) as RDDs whose
partitions follow the parts' names, on any Hadoop file system.

sc.textFile(dir) and sc.pickleFile(dir) take a directory's files in the file system's listing
order, which on a local disk is not name order: predictions would come out permuted, and
images.zip(labels) would pair the right records only while both directories happen to list
alike. These helpers list the parts through Hadoop's FileSystem API, order them by part
number, check them as the C++ reader does (_SUCCESS present, no part missing or doubled), and
give one RDD partition per part file.

    images = text_parts(sc, "data/train/images")                 # partition k = part k
    data = zip_parts(sc, "data/train/images", "data/train/labels", text_parts)
    examples = tfrecord_parts(sc, "data/train")                  # serialized records, in order
    df = parquet_parts(spark, "data/train")                      # a DataFrame, parts in order
"""

import functools
import re

from .cluster import TorchOnSparkError

# part-00003, part-r-00003, part-00003.gz, and Spark SQL's part-00003-<uuid>-c000.snappy.parquet
_PART = re.compile(r"^part-(?:[rm]-)?(\d+)(?:[-.].*)?$")
SUCCESS = "_SUCCESS"
# One split per part file: a part is never cut in two, so part k is partition k.
_WHOLE_FILES = {"mapreduce.input.fileinputformat.split.minsize": str(2 ** 62)}
_INPUT_DIRS = "mapreduce.input.fileinputformat.inputdir"


def part_files(sc, directory, allow_incomplete=False):
    """The part files of `directory` (any Hadoop URI or local path), in part-number order.

    Raises TorchOnSparkError naming the directory when it does not exist, has no _SUCCESS
    marker (the writer failed or is still running), lacks a part or holds two files for one
    part; allow_incomplete=True takes the parts present instead."""
    jvm = sc._jvm
    path = jvm.org.apache.hadoop.fs.Path(directory)
    fs = path.getFileSystem(sc._jsc.hadoopConfiguration())
    if not fs.exists(path):
        raise TorchOnSparkError("%s: dataset directory does not exist" % directory)
    if not fs.getFileStatus(path).isDirectory():
        raise TorchOnSparkError("%s: is a file, expected a dataset directory" % directory)
    success = False
    parts = []
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if status.isDirectory():
            continue
        if name == SUCCESS:
            success = True
            continue
        m = _PART.match(name)
        if m:
            parts.append((int(m.group(1)), name, status.getPath().toString()))
    parts.sort()
    if not success and not allow_incomplete:
        raise TorchOnSparkError(
            "%s: no %s marker: the dataset is incomplete (its writer failed or is still running); "
            "allow_incomplete=True (--allow-incomplete) reads the %d parts present"
            % (directory, SUCCESS, len(parts)))
    if not parts:
        raise TorchOnSparkError("%s: no part files (part-NNNNN)" % directory)
    for i, (index, name, _) in enumerate(parts):
        if i > 0 and index == parts[i - 1][0]:
            raise TorchOnSparkError("%s: two files for partition %d: %s and %s"
                                    % (directory, index, parts[i - 1][1], name))
        if not allow_incomplete and index != i:
            raise TorchOnSparkError("%s: part %d is missing (next part is %s); allow_incomplete=True "
                                    "(--allow-incomplete) reads the parts present" % (directory, i, name))
    return [(name, uri) for _, name, uri in parts]


def _check_one_per_part(rdd, directory, parts):
    if rdd.getNumPartitions() != len(parts):
        raise TorchOnSparkError(
            "%s: %d part files became %d partitions; a part file was split, so partitions no longer "
            "follow the parts" % (directory, len(parts), rdd.getNumPartitions()))
    return rdd


def text_parts(sc, directory, allow_incomplete=False, parts=None):
    """The lines of a text dataset (csv parts, plain or .gz): partition k holds part k."""
    parts = parts if parts is not None else part_files(sc, directory, allow_incomplete)
    # hadoopRDD, not hadoopFile: PySpark's hadoopFile drops `conf` when it is given a path, and a
    # part larger than a block (HDFS's 128 MiB, or less) would then be split in several.
    # Hadoop splits the list at unescaped commas (StringUtils.split): a comma in a name is escaped.
    dirs = ",".join(uri.replace("\\", "\\\\").replace(",", "\\,") for _, uri in parts)
    conf = dict(_WHOLE_FILES, **{_INPUT_DIRS: dirs})
    rdd = sc.hadoopRDD("org.apache.hadoop.mapred.TextInputFormat", "org.apache.hadoop.io.LongWritable",
                       "org.apache.hadoop.io.Text", conf=conf).values()
    return _check_one_per_part(rdd, directory, parts)


def pickle_parts(sc, directory, allow_incomplete=False, parts=None):
    """The objects of a saveAsPickleFile dataset: partition k holds part k."""
    parts = parts if parts is not None else part_files(sc, directory, allow_incomplete)
    rdd = sc.pickleFile(",".join(uri for _, uri in parts), len(parts))
    return _check_one_per_part(rdd, directory, parts)


def zip_parts(sc, first, second, reader=text_parts, allow_incomplete=False):
    """(a, b) pairs of two datasets written side by side (images and labels): part k of one
    with part k of the other, refused when the two directories' part names differ. A part
    pair with different record counts fails the Spark job ("same number of elements")."""
    a = part_files(sc, first, allow_incomplete)
    b = part_files(sc, second, allow_incomplete)
    names_a = [name.split(".")[0] for name, _ in a]
    names_b = [name.split(".")[0] for name, _ in b]
    if names_a != names_b:
        only_a = sorted(set(names_a) - set(names_b))
        only_b = sorted(set(names_b) - set(names_a))
        raise TorchOnSparkError(
            "%s and %s do not hold the same parts (only in the first: %s; only in the second: %s); "
            "their records cannot be paired" % (first, second, ", ".join(only_a) or "none",
                                                ", ".join(only_b) or "none"))
    return reader(sc, first, parts=a).zip(reader(sc, second, parts=b))


def _tfrecords(path_and_bytes):
    """The records of one TFRecord file (u64 length, u32 crc, data, u32 crc), CRCs unchecked:
    the consumer's parser validates each record."""
    path, data = path_and_bytes
    if path.endswith(".gz"):
        import gzip
        data = gzip.decompress(data)
    import struct
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            raise ValueError("%s: truncated TFRecord header at byte %d" % (path, pos))
        (length,) = struct.unpack_from("<Q", data, pos)
        start = pos + 12
        if start + length + 4 > len(data):
            raise ValueError("%s: TFRecord at byte %d runs past the end of the file" % (path, pos))
        yield bytes(data[start:start + length])
        pos = start + length + 4


def tfrecord_parts(sc, directory, allow_incomplete=False):
    """The records (bytes, e.g. serialized tf.train.Example) of a TFRecord dataset's part
    files, in part order and file order."""
    parts = part_files(sc, directory, allow_incomplete)
    files = sc.binaryFiles(",".join(uri for _, uri in parts)).sortByKey()
    return files.flatMap(_tfrecords)


def parquet_parts(spark, directory, allow_incomplete=False):
    """The rows of a Parquet dataset as Spark SQL writes one (part-NNNNN-*.parquet files and
    _SUCCESS) as a DataFrame whose partitions follow the parts' names, rows in file order:
    spark.read.parquet(directory) orders its partitions by file size instead, so predictions
    would come out permuted."""
    parts = part_files(spark.sparkContext, directory, allow_incomplete)
    return functools.reduce(lambda a, b: a.union(b), [spark.read.parquet(uri) for _, uri in parts])
