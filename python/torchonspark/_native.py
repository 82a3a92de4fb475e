"""Finds the runtime's extension module, torchonspark._tos (built by the project's CMake into
python/torchonspark/). On Spark executors the package may arrive as a zip (addPyFile), from
which an extension cannot load: the module is then shipped beside it (SparkContext.addFile)
and found through $TOS_PY_EXTENSION or Spark's files directory."""

import glob
import importlib.machinery
import importlib.util
import os
import sys

_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def extension_path():
    """The path of the built extension beside this package's sources, or None."""
    here = os.path.dirname(os.path.abspath(__file__))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = os.path.join(here, "_tos" + suffix)
        if os.path.isfile(p):
            return p
    return None


def _candidates():
    env = os.environ.get("TOS_PY_EXTENSION")
    if env:
        yield env
    try:
        from pyspark import SparkFiles
        root = SparkFiles.getRootDirectory()
    except Exception:  # noqa: BLE001 (no Spark here)
        root = None
    if root:
        for p in sorted(glob.glob(os.path.join(root, "_tos*" + ".so"))):
            yield p


def load():
    name = "torchonspark._tos"
    if name in sys.modules:
        return sys.modules[name]
    try:
        from . import _tos
        return _tos
    except ImportError as first:
        why = first
    for path in _candidates():
        if not os.path.isfile(path):
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ImportError as e:
            why = e
            continue
        sys.modules[name] = module
        return module
    raise ImportError(
        "the TorchOnSpark runtime module (torchonspark/_tos%s) is not built or not loadable for "
        "this Python (%s %s): %s. Build it with `make build` (it is built for /usr/bin/python3, "
        "whose torch is Debian's python3-torch), and run Python training functions with that "
        "Python or a venv made from it with --system-site-packages"
        % (_SUFFIX, sys.executable, sys.version.split()[0], why))
