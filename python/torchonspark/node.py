"""A node that runs a Python training function: `python -m torchonspark.node FUNFILE`.

The process is the C++ node runner (tos::Main, through the extension module): it joins the
cluster, heartbeats, serves its feeds and reports how it ended, exactly as a C++ node does.
Only map_fun(args, ctx) is Python. FUNFILE holds (map_fun, args), pickled with cloudpickle
by the driver; it is loaded after the node joined, so a failure to load it reaches the driver.

Started with TOS_FEED_CLIENT or TOS_DRIVER_SERVICE in the environment, the same command is the
Spark bridge's feed client or driver service (pure C++, no map_fun).
"""

import pickle
import socket
import sys
import traceback

from . import _native
from .context import NodeContext


def _load_fun(path):
    with open(path, "rb") as f:
        blob = f.read()
    try:
        return pickle.loads(blob)  # imports the cloudpickle that made it, as it names it
    except (ImportError, AttributeError) as e:
        raise RuntimeError(
            "map_fun could not be loaded on host %s: %s: %s. A module that map_fun uses must be "
            "importable on every executor: ship it with spark-submit --py-files (or "
            "SparkContext.addPyFile), or install it on every host"
            % (socket.gethostname(), type(e).__name__, e)) from e


def _flush():
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:  # noqa: BLE001
            pass


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    tos = _native.load()
    funfile = argv[1] if len(argv) > 1 else None

    def call(native_ctx):
        try:
            if funfile is None:
                return "no map_fun: the node was started without its function file"
            try:
                fn, args = _load_fun(funfile)
            except RuntimeError as e:
                return str(e)
            except Exception:  # noqa: BLE001 (reported to the driver)
                return "map_fun could not be loaded:\n" + traceback.format_exc()
            try:
                fn(args, NodeContext(native_ctx))
                return None
            except SystemExit as e:
                if e.code in (None, 0):
                    return None
                return "map_fun called sys.exit(%r)" % (e.code,)
            except BaseException as e:  # noqa: BLE001 (KeyboardInterrupt too: the node fails)
                # The traceback from map_fun's own frame on (this runner's frame says nothing).
                tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
                text = "".join(traceback.format_exception(type(e), e, tb)).rstrip()
                return "Python exception in map_fun:\n" + text
        finally:
            _flush()

    return tos.main(argv, call)


if __name__ == "__main__":
    sys.exit(main())
