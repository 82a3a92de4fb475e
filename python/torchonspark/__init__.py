"""TorchOnSpark on Apache Spark: TFoS's TFCluster API for Python training functions and for
C++ (libtorch) programs.

    from torchonspark import TFCluster, InputMode
    cluster = TFCluster.run(sc, map_fun, args, num_executors=3, num_ps=1)   # or a C++ program
    cluster.train(rdd, num_epochs=1)
    cluster.shutdown()

The C++ runtime does the work (reservation, roles, feeding protocol, authentication,
training, shutdown); this package starts its processes in Spark and relays their status. A
Python map_fun runs in a node that is the runtime's node runner (torchonspark.node, through
the extension module torchonspark._tos); torchonspark.local runs the same without Spark.
"""

from .cluster import Cluster, InputMode, TFCluster, TorchOnSparkError, run
from .datasets import parquet_parts, part_files, pickle_parts, text_parts, tfrecord_parts, zip_parts
from .context import DataFeed

__all__ = ["Cluster", "DataFeed", "InputMode", "TFCluster", "TorchOnSparkError", "run", "parquet_parts",
           "part_files", "pickle_parts", "text_parts", "tfrecord_parts", "zip_parts"]
__version__ = "0.1.0"
