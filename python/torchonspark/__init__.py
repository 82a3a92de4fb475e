"""TorchOnSpark on Apache Spark: TFoS's TFCluster API for C++ (libtorch) programs.

    from torchonspark import TFCluster, InputMode
    cluster = TFCluster.run(sc, "build/bin/mnist_spark", args, num_executors=3, num_ps=1)
    cluster.train(rdd, num_epochs=1)
    cluster.shutdown()

The C++ runtime does the work (reservation, roles, feeding protocol, authentication,
training, shutdown); this package starts its processes in Spark and relays their status.
"""

from .cluster import Cluster, InputMode, TFCluster, TorchOnSparkError, run
from .datasets import part_files, pickle_parts, text_parts, zip_parts

__all__ = ["Cluster", "InputMode", "TFCluster", "TorchOnSparkError", "run", "part_files", "pickle_parts",
           "text_parts", "zip_parts"]
__version__ = "0.1.0"
