"""DataFrames and TFRecord datasets of tf.train.Example records (TensorFlowOnSpark's dfutil).

    df = dfutil.load_tfrecords(sc, "data/train")          # schema from the first record
    dfutil.save_as_tfrecords(df, "data/out")              # part-NNNNN files and _SUCCESS

The files are TensorFlow's: TFRecord framing with masked CRC-32C, tf.train.Example protos,
read and written by the runtime's C++ (on any file system it serves: local, HDFS) in Spark's
Python workers; no TensorFlow is needed. Type mapping, as TFoS's:

    int64_list  <-> long (int, short, byte, boolean are written as int64)
    float_list  <-> float (double is written as float, as TFoS does)
    bytes_list  <-> string (UTF-8), or binary for the features named in binary_features
    a list of more than one value in the first record <-> array<...> of the above
"""

import os

from .cluster import TorchOnSparkError, _ship_package
from .datasets import SUCCESS, part_files


def _native():
    from . import _native as n
    return n.load()


def _runtime_uri(uri):
    """Hadoop's "file:/x" as the runtime's file systems spell it ("file:///x")."""
    if uri.startswith("file:/") and not uri.startswith("file://"):
        return "file://" + uri[len("file:"):]
    return uri


def _spark_type(kind, values, binary):
    from pyspark.sql import types as T
    base = {"int64": T.LongType(), "float": T.FloatType()}.get(kind)
    if base is None:
        base = T.BinaryType() if binary else T.StringType()
    return T.ArrayType(base, False) if len(values) != 1 else base


def infer_schema(record, binary_features=()):
    """The DataFrame schema of one serialized tf.train.Example (features in name order)."""
    from pyspark.sql import types as T
    features = _native().parse_example(record)
    return T.StructType([T.StructField(name, _spark_type(kind, values, name in binary_features))
                         for name, (kind, values) in sorted(features.items())])


def _rows(schema, binary_features):
    from pyspark.sql import types as T
    fields = [(f.name, isinstance(f.dataType, T.ArrayType),
               isinstance(f.dataType, T.StringType) or (isinstance(f.dataType, T.ArrayType) and
                                                        isinstance(f.dataType.elementType, T.StringType)))
              for f in schema.fields]

    def convert(uri):
        native = _native()
        for index, record in enumerate(native.read_tfrecords(uri)):
            features = native.parse_example(record)
            row = []
            for name, is_array, is_text in fields:
                if name not in features:
                    raise ValueError("%s: record %d has no feature '%s' (the first record's schema: %s)"
                                     % (uri, index, name, schema.simpleString()))
                values = features[name][1]
                if is_text:
                    values = [v.decode("utf-8") for v in values]
                if is_array:
                    row.append(list(values))
                elif len(values) != 1:
                    raise ValueError("%s: record %d: feature '%s' has %d values where the first record "
                                     "has one" % (uri, index, name, len(values)))
                else:
                    row.append(values[0])
            yield tuple(row)

    return convert


def load_tfrecords(sc, input_dir, binary_features=(), allow_incomplete=False):
    """A DataFrame of the tf.train.Example records of a TFRecord dataset (part files in part
    order, each file's records in order; .gz parts are decompressed). The schema is inferred
    from the first record (TFoS dfutil.loadTFRecords)."""
    from pyspark.sql import SparkSession
    _ship_package(sc, python_nodes=True)
    parts = [_runtime_uri(uri) for _, uri in part_files(sc, input_dir, allow_incomplete)]
    first = None
    for uri in parts:
        records = _native().read_tfrecords(uri)
        if records:
            first = records[0]
            break
    if first is None:
        raise TorchOnSparkError("%s: no records to infer a schema from" % input_dir)
    schema = infer_schema(first, set(binary_features))
    rdd = sc.parallelize(parts, len(parts)).flatMap(_rows(schema, set(binary_features)))
    return SparkSession(sc).createDataFrame(rdd, schema)


def _features(schema):
    from pyspark.sql import types as T
    ints = (T.LongType, T.IntegerType, T.ShortType, T.ByteType, T.BooleanType)
    floats = (T.FloatType, T.DoubleType)

    def kind_of(t, name):
        if isinstance(t, ints):
            return "int64", int
        if isinstance(t, floats):
            return "float", float
        if isinstance(t, T.StringType):
            return "bytes", lambda v: v.encode("utf-8")
        if isinstance(t, T.BinaryType):
            return "bytes", bytes
        raise TypeError("column '%s' is %s, which a tf.train.Example cannot hold (numbers, strings, "
                        "binary, and arrays of them)" % (name, t.simpleString()))

    out = []
    for f in schema.fields:
        t = f.dataType
        if isinstance(t, T.ArrayType):
            out.append((f.name, True) + kind_of(t.elementType, f.name))
        else:
            out.append((f.name, False) + kind_of(t, f.name))
    return out


def save_as_tfrecords(df, output_dir):
    """Writes the DataFrame as a TFRecord dataset of tf.train.Example records (TFoS
    dfutil.saveAsTFRecords): part k holds partition k's rows in order, each part is written
    under a temporary name and renamed when complete, and _SUCCESS is written last. A null is
    refused naming its column."""
    if "://" not in output_dir and not os.path.isabs(output_dir):
        output_dir = os.path.abspath(output_dir)  # executors run elsewhere: the driver's cwd
    sc = df.sparkSession.sparkContext
    _ship_package(sc, python_nodes=True)
    features = _features(df.schema)
    native = _native()
    try:
        existing = native.list_parts(output_dir, True)
    except RuntimeError:
        existing = []  # no such directory
    if existing:
        raise TorchOnSparkError("%s already holds a dataset (%d parts): remove it first"
                                % (output_dir, len(existing)))
    native.make_dirs(output_dir)

    def write(index, rows):
        n = _native()
        records = []
        for row in rows:
            example = {}
            for name, is_array, kind, convert in features:
                value = row[name]
                if value is None or (is_array and any(v is None for v in value)):
                    raise ValueError("column '%s' is null in a row of partition %d: a tf.train.Example "
                                     "cannot hold a null (fill or drop nulls first)" % (name, index))
                example[name] = (kind, [convert(v) for v in value] if is_array else [convert(value)])
            records.append(n.serialize_example(example))
        n.write_tfrecord_part(output_dir, index, records)
        yield len(records)

    written = sum(df.rdd.mapPartitionsWithIndex(write).collect())
    native.write_file(output_dir.rstrip("/") + "/" + SUCCESS, b"")
    return written
