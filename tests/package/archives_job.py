"""A Python map_fun whose executors run a packed venv (tests/package/spark_archives_check.sh)."""
import json, os, sys
from pyspark import SparkContext
from torchonspark import TFCluster, InputMode

def map_fun(args, ctx):
    import numpy, torchonspark, sys, json, os
    feed = ctx.get_data_feed()
    n = 0
    while not feed.should_stop():
        n += len(feed.next_batch(100))
    with open(os.path.join(args["out"], "node-%d.json" % ctx.worker_index), "w") as f:
        json.dump({"python": sys.executable, "torchonspark": torchonspark.__file__, "numpy": numpy.__version__, "records": n}, f)

if __name__ == "__main__":
    out = sys.argv[1]
    sc = SparkContext()
    cluster = TFCluster.run(sc, map_fun, {"out": out}, 2, 0, input_mode=InputMode.SPARK, reservation_timeout=120)
    cluster.train(sc.parallelize([[float(i)] * 4 for i in range(5000)], 4), num_epochs=1)
    cluster.shutdown(timeout=300)
    sc.stop()
