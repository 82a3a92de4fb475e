"""Finds the runtime's extension module, torchonspark._tos (built by the project's CMake into
python/torchonspark/). On Spark executors the package may arrive as a zip (addPyFile), from
which an extension cannot load: the module is then shipped beside it (SparkContext.addFile)
and found through $TOS_PY_EXTENSION_DIR or Spark's files directory."""

import importlib.machinery
import importlib.util
import os
import sys

_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _candidates(module):
    env = os.environ.get("TOS_PY_EXTENSION_DIR")
    roots = [env] if env else []
    try:
        from pyspark import SparkFiles
        roots.append(SparkFiles.getRootDirectory())
    except Exception:  # noqa: BLE001 (no Spark here)
        pass
    for root in roots:
        if root:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                yield os.path.join(root, module + suffix)


def _import(module):
    name = "torchonspark." + module
    if name in sys.modules:
        return sys.modules[name], None
    try:
        return importlib.import_module(name), None
    except ImportError as first:
        why = first
    for path in _candidates(module):
        if not os.path.isfile(path):
            continue
        try:  # module_from_spec is where the shared object is loaded and initialised
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        except ImportError as e:
            why = e
            continue
        sys.modules[name] = mod
        return mod, None
    return None, why


def load_train():
    """torchonspark._tos_train: the parameter server and ring allreducer for PyTorch (on NumPy
    views of the parameters; it links no libtorch, so any torch 2.x works)."""
    load()  # the runtime first: its errors say what to build
    mod, why = _import("_tos_train")
    if mod is not None:
        return mod
    raise ImportError("torchonspark._tos_train (the parameter server and allreducer for PyTorch) is not "
                      "built or not loadable: %s. Build it with `make build`, or install the package with "
                      "`pip install ./python`" % why)


def child_env():
    """What a child Python (a node, a feed client, the driver service) needs in its
    environment to run torchonspark.node: this process's import path, the package's own
    location first, and the directory the runtime's extension modules were loaded from."""
    paths = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    paths += [os.path.abspath(p) for p in sys.path if p]
    return {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "PYTHONUNBUFFERED": "1",
            "TOS_PY_EXTENSION_DIR": os.path.dirname(os.path.abspath(load().__file__))}


def load():
    mod, why = _import("_tos")
    if mod is not None:
        return mod
    raise ImportError(
        "the TorchOnSpark runtime module (torchonspark/_tos%s) is not built or not loadable for "
        "this Python (%s %s): %s. Build it with `make build` (for the project's .venv) or install "
        "the package into this Python with `pip install ./python`; extension modules load only "
        "in the Python version they were built for"
        % (_SUFFIX, sys.executable, sys.version.split()[0], why))
