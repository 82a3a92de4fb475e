"""examples/mnist/spark/mnist_spark.py as a new user meets it: every flag of the C++ program
works through it (those it does not use itself are forwarded), and bad combinations are refused
on the driver with the program's own message, before any executor starts."""

import importlib.util
import os

import pytest

from conftest import BIN, ROOT

pytestmark = pytest.mark.timeout(120)

MNIST = os.path.join(BIN, "mnist_spark")


def example():
    spec = importlib.util.spec_from_file_location(
        "mnist_spark_example", os.path.join(ROOT, "examples", "mnist", "spark", "mnist_spark.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def argv_for(flags):
    ex = example()
    args, extra = ex.make_parser(3).parse_known_args(flags + ["--program", MNIST])
    return ex, args, ex.program_args(args, extra)


@pytest.mark.skipif(not os.path.exists(MNIST), reason="mnist_spark is not built (TOS_WITH_TORCH=OFF)")
def test_program_flags_are_forwarded_and_accepted():
    flags = ["--images", "/data/train", "--format", "tfr", "--num_ps", "0", "--strategy", "allreduce",
             "--model_type", "cnn", "--optimizer", "adam", "--learning_rate", "0.003", "--log_dir", "/tmp/logs",
             "--threads", "2"]
    ex, args, argv = argv_for(flags)
    for f in ("--strategy", "allreduce", "--model_type", "cnn", "--optimizer", "adam", "--learning_rate", "0.003",
              "--log_dir", "/tmp/logs", "--threads", "2"):
        assert f in argv
    assert ex.check_program_args(MNIST, argv) is None


@pytest.mark.skipif(not os.path.exists(MNIST), reason="mnist_spark is not built (TOS_WITH_TORCH=OFF)")
def test_bad_combinations_are_refused_on_the_driver_with_the_programs_message():
    ex, args, argv = argv_for(["--images", "/data/train", "--format", "tfr", "--num_ps", "0"])
    problem = ex.check_program_args(MNIST, argv)
    assert problem is not None and "--strategy ps needs --num_ps 1 or more" in problem
    ex, args, argv = argv_for(["--images", "/data/train", "--format", "tfr", "--rdma", "true"])
    assert "no RDMA transport" in ex.check_program_args(MNIST, argv)
    ex, args, argv = argv_for(["--images", "/data/train", "--format", "tfr", "--no_such_flag", "1"])
    assert "no_such_flag" in ex.check_program_args(MNIST, argv)
    assert "does not exist" in ex.check_program_args("/nonexistent/mnist_spark", argv)


class FakeRdd(object):
    """Partitions of a given size: what steps_warning asks of an RDD."""

    def __init__(self, sizes):
        self.sizes = sizes

    def getNumPartitions(self):
        return len(self.sizes)

    def mapPartitionsWithIndex(self, f):
        out = [x for i, n in enumerate(self.sizes) for x in f(i, iter(range(n)))]
        return type("Collected", (), {"collect": lambda self: out})()


def test_the_spark_driver_says_when_steps_end_training_before_the_epochs():
    ex = example()
    # The seed's defaults on Fashion-MNIST's 60,000 images in 10 parts: 3 epochs need 1800 steps
    # of one worker's batch of 100 (asynchronous ps), and --steps 1000 stops at 1.67 of them.
    argv = ["--epochs", "3", "--steps", "1000", "--batch_size", "100", "--cluster_size", "3", "--num_ps", "1"]
    w = ex.steps_warning(argv, FakeRdd([6000] * 10))
    assert w is not None and "--steps 1000 will end training before --epochs 3" in w, w
    assert "about 60000 records (10 partitions of 6000) need about 1800 global steps" in w, w
    assert ex.steps_warning(argv[:2] + ["--steps", "1800"] + argv[4:], FakeRdd([6000] * 10)) is None
    # Allreduce: a step is a batch of every worker (3 trainers, 600 steps for 3 epochs).
    argv = ["--epochs", "3", "--steps", "1000", "--cluster_size", "3", "--num_ps", "0", "--strategy", "allreduce"]
    assert ex.steps_warning(argv, FakeRdd([6000] * 10)) is None
    assert ex.steps_warning(argv, FakeRdd([])) is None
