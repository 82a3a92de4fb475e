"""MNIST as a Parquet dataset, written by Spark: columns image (binary, the 784 pixel bytes)
and label (int), one part per part of the csv2 dataset it reads, in the same order.

    build/bin/mnist_data_setup --format csv2 --output mnist_csv2
    spark-submit examples/mnist/spark/mnist_parquet.py --input mnist_csv2 --output mnist_parquet

The conversion is Spark SQL only (no Python per row): a csv2 line "label|p0,...,p783" becomes
the label and the pixels as bytes (each number as two hex digits, then unhex).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python"))

from torchonspark import part_files  # noqa: E402

IMAGE = ("unhex(concat_ws('', transform(split(substring_index(value, '|', -1), ','), "
         "x -> lpad(hex(cast(x as int)), 2, '0')))) as image")
LABEL = "cast(substring_index(value, '|', 1) as int) as label"


def convert_split(spark, source, target):
    """One split (e.g. mnist_csv2/train) into a Parquet dataset at `target`."""
    import functools
    parts = part_files(spark.sparkContext, source)
    lines = functools.reduce(lambda a, b: a.union(b), [spark.read.text(uri) for _, uri in parts])
    lines.selectExpr(IMAGE, LABEL).write.parquet(target)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="csv2 dataset (with train/ and test/)")
    parser.add_argument("--output", required=True, help="Parquet dataset to write (train/ and test/)")
    args = parser.parse_args()
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.appName("mnist_parquet").getOrCreate()
    for split in ("train", "test"):
        convert_split(spark, os.path.join(args.input, split), os.path.join(args.output, split))
    spark.stop()


if __name__ == "__main__":
    main()
