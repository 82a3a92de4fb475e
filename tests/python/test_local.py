"""Python training functions in local mode (torchonspark.local: the runtime's driver and local
launcher, no Spark): feeds, results, failures, DDP."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, HERE)

import pyfuns  # noqa: E402
from torchonspark import InputMode, TorchOnSparkError, local  # noqa: E402

pytestmark = pytest.mark.timeout(180)


results = pyfuns.results


def images(n):
    return [(np.full(784, i % 256, dtype=np.uint8), [float(i % 10)] * 10) for i in range(n)]


@pytest.mark.parametrize("arrays", [False, True])
def test_feed_one_ps_two_workers(tmp_path, arrays):
    out = str(tmp_path)
    c = local.run(pyfuns.consume, {"out": out, "arrays": arrays}, 3, 1, log_dir=os.path.join(out, "logs"))
    assert sorted(c.cluster_spec) == ["ps", "worker"]
    c.train(images(1000), num_epochs=2)
    c.shutdown(timeout=60)
    r = results(out)
    assert sorted(r) == ["worker-0", "worker-1"]
    assert r["worker-0"]["count"] + r["worker-1"]["count"] == 2000
    expected = 2 * sum(i % 256 for i in range(1000)) * 784
    assert r["worker-0"]["sum"] + r["worker-1"]["sum"] == expected
    if arrays:
        assert r["worker-0"]["shape"] == [[100, 784], [100, 10]]
    ctx = r["worker-1"]["ctx"]
    assert ctx["num_workers"] == 2 and ctx["executor_id"] == 2
    assert len(ctx["cluster_spec"]["ps"]) == 1
    assert ctx["absolute"].startswith("file://") and ctx["absolute"].endswith("/data/x")


def test_inference_one_result_per_record_in_order(tmp_path):
    c = local.run(pyfuns.infer, {"out": str(tmp_path)}, 2, 0, log_dir=str(tmp_path / "logs"))
    data = [(i, "r%d" % i) for i in range(2345)]
    got = c.inference(data, num_partitions=5)
    c.shutdown(timeout=60)
    assert got == ["%d:r%d" % (i, i) for i in range(2345)]


def test_two_named_feeds(tmp_path):
    out = str(tmp_path)
    c = local.run(pyfuns.two_feeds, {"out": out}, 2, 0, log_dir=os.path.join(out, "logs"))
    # TrainFeeds would feed both at once; here one after the other, each ended by train().
    c.train(["a%d" % i for i in range(300)], qname="a")
    c.train(["b%d" % i for i in range(500)], qname="b")
    c.shutdown(timeout=60)
    r = results(out)
    assert sum(v["a"] for v in r.values()) == 300
    assert sum(v["b"] for v in r.values()) == 500


def test_exception_fails_the_job_with_traceback_and_node(tmp_path):
    c = local.run(pyfuns.fail, {"out": str(tmp_path)}, 3, 0, log_dir=str(tmp_path / "logs"))
    start = time.time()
    with pytest.raises(TorchOnSparkError) as e:
        c.train(["x"] * 100000, num_partitions=6)
        c.shutdown(timeout=60)
    message = str(e.value)
    assert "worker:1 (executor 1) on " in message
    assert "ValueError: deliberate failure in worker 1" in message
    assert "pyfuns.py" in message and "Traceback" in message
    assert time.time() - start < 30


def test_a_killed_python_node_fails_the_job(tmp_path):
    out = str(tmp_path)
    c = local.run(pyfuns.hang, {"out": out}, 2, 0, log_dir=os.path.join(out, "logs"))
    pids = {k: v["pid"] for k, v in pyfuns.wait_for_results(out, 2).items()}
    os.kill(pids["worker-1"], signal.SIGKILL)
    start = time.time()
    with pytest.raises(TorchOnSparkError) as e:
        c.shutdown(timeout=60)
    assert "worker:1" in str(e.value) and "SIGKILL" in str(e.value)
    assert time.time() - start < 30
    assert pyfuns.wait_gone(pids["worker-0"]), "worker 0 outlived the failed job"


def test_direct_mode_each_trainer_reads_its_shard_in_order(tmp_path):
    out = str(tmp_path)
    pyfuns.write_parts(os.path.join(out, "data"), [30, 20, 10])
    c = local.run(pyfuns.shard_lines, {"out": out, "data": os.path.join(out, "data")}, 3, 1,
                  input_mode=InputMode.TENSORFLOW, log_dir=os.path.join(out, "logs"))
    c.shutdown(timeout=60)
    r = results(out)
    assert r["worker-0"]["lines"] == ["p0-%d" % i for i in range(30)] + ["p2-%d" % i for i in range(10)]
    assert r["worker-1"]["lines"] == ["p1-%d" % i for i in range(20)]
    assert r["worker-0"]["input_mode"] == InputMode.TENSORFLOW


def test_terminate_stops_the_feed(tmp_path):
    out = str(tmp_path)
    c = local.run(pyfuns.terminate_early, {"out": out, "take": 50}, 2, 0, log_dir=os.path.join(out, "logs"))
    c.train(["r%d" % i for i in range(200000)], num_epochs=3)
    c.shutdown(timeout=60)
    r = results(out)
    assert [v["count"] for v in r.values()] == [50, 50]
    assert all(v["should_stop"] for v in r.values())


def test_unpicklable_map_fun_is_refused_with_what_to_do(tmp_path):
    lock = __import__("threading").Lock()
    with pytest.raises(TorchOnSparkError, match="cannot be pickled"):
        local.run(pyfuns.consume, {"out": str(tmp_path), "lock": lock}, 1, 0)


def test_ddp_two_workers_end_with_identical_parameters(tmp_path):
    out = str(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 4)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32) + 0.25
    c = local.run(pyfuns.ddp, {"out": out, "steps": 40, "batch": 32}, 2, 0, log_dir=os.path.join(out, "logs"))
    c.train(list(zip(x, y.reshape(-1, 1))), num_epochs=5)
    c.shutdown(timeout=120)
    r = results(out)
    assert sorted(r) == ["worker-0", "worker-1"]
    assert {v["world"] for v in r.values()} == {2} and sorted(v["rank"] for v in r.values()) == [0, 1]
    assert r["worker-0"]["params"] == r["worker-1"]["params"]
    assert r["worker-0"]["steps"] == 40
    w = np.array(r["worker-0"]["params"][0])
    assert np.allclose(w, [1.0, -2.0, 0.5, 3.0], atol=0.3), w


@pytest.mark.parametrize("num_ps", [1, 2])
def test_ps_client_on_a_pytorch_module(tmp_path, num_ps):
    out = str(tmp_path)
    c = local.run(pyfuns.ps_linear, {"out": out, "steps": 25}, num_ps + 2, num_ps, log_dir=os.path.join(out, "logs"))
    c.shutdown(timeout=120)
    r = results(out)
    assert sorted(r) == ["worker-0", "worker-1"]
    for v in r.values():
        assert v["num_ps"] == num_ps
        # Both workers started from the chief's values (not their own seeds)...
        assert all(x == 0.5 for p in v["initial"] for x in p)
        # ...every push of both was applied once...
        assert v["global_step"] == 50 and v["state_step"] == 50
        # ...and the optimizer's slot-free SGD state holds exactly the parameters.
        assert v["state_names"] == ["0.bias", "0.weight", "1.bias", "1.weight"]
    assert r["worker-0"]["final"] == r["worker-1"]["final"]
    # SGD moved every parameter away from 0.5.
    assert all(x != 0.5 for p in r["worker-0"]["final"] for x in p)


def test_the_extensions_load_beside_a_zipped_package(tmp_path):
    """What an executor has: the package as a zip (addPyFile), from which an extension cannot
    load, and the two extension modules in a directory of their own (addFile)."""
    import glob
    import shutil
    import subprocess
    import zipfile
    pkg = os.path.join(HERE, "..", "..", "python", "torchonspark")
    zpath = str(tmp_path / "torchonspark.zip")
    with zipfile.ZipFile(zpath, "w") as z:
        for f in glob.glob(os.path.join(pkg, "*.py")):
            z.write(f, "torchonspark/" + os.path.basename(f))
    ext_dir = tmp_path / "files"
    ext_dir.mkdir()
    for f in glob.glob(os.path.join(pkg, "_tos*.so")):
        shutil.copy(f, str(ext_dir))
    code = ("import sys; sys.path.insert(0, %r); import torchonspark, torchonspark._native as n; "
            "assert '.zip' in torchonspark.__file__, torchonspark.__file__; "
            "print(n.load().__file__); print(n.load_train().__file__)" % zpath)
    env = dict(os.environ, TOS_PY_EXTENSION_DIR=str(ext_dir))
    # -S: no site packages, so no editable install of this checkout finds the modules instead.
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=60)
    text = out.stdout.decode()
    assert out.returncode == 0, text
    assert text.count(str(ext_dir)) == 2, text
    # Without the directory the error says what to do.
    env.pop("TOS_PY_EXTENSION_DIR")
    out = subprocess.run([sys.executable, "-S", "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=60)
    assert out.returncode != 0 and b"make build" in out.stdout


def test_text_directories_and_big_integers_arrive_exactly(tmp_path):
    out = str(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "part-00000").write_text("1,x\n2,y\n")
    (data / "part-00001").write_text("3,z\n")
    (data / "_SUCCESS").write_text("")
    c = local.run(pyfuns.consume, {"out": out}, 1, 0, log_dir=os.path.join(out, "logs"))
    c.train(str(data))
    c.shutdown(timeout=60)
    r = results(out)["worker-0"]
    assert r["count"] == 3 and r["sum"] == 6.0  # str records: "1,x" -> 1.0
    c = local.run(pyfuns.infer, {"out": out}, 1, 0, log_dir=os.path.join(out, "logs2"))
    big = 1700000000123456789
    got = c.inference([(big + i, "t") for i in range(3)])
    c.shutdown(timeout=60)
    assert got == ["%d:t" % (big + i) for i in range(3)]


def test_csv_lines_parsed_in_cpp(tmp_path):
    out = str(tmp_path)
    c = local.run(pyfuns.csv_arrays, {"out": out}, 1, 0, log_dir=os.path.join(out, "logs"))
    c.train([("1,2,3", 7), (" +4, 5.5,1e-50\r", 8), ("0,0,1e39", 9)], num_partitions=1)
    c.shutdown(timeout=60)
    r = results(out)["worker-0"]
    assert r["shape"] == [3, 3] and r["dtype"] == "float32" and r["labels"] == [7, 8, 9]
    assert r["sum"] == float("inf")  # 1e39 is past float32's range: inf, as strtof reads it
    c = local.run(pyfuns.csv_arrays, {"out": out}, 1, 0, log_dir=os.path.join(out, "logs2"))
    c.train([("1,2,3", 7), ("1,x,3", 8)], num_partitions=1)
    c.shutdown(timeout=60)
    assert "row 1 of the batch, column 1: not a number: '1,x,3'" in results(out)["worker-0"]["error"]


def test_array_form_gives_string_and_bytes_fields_as_lists(tmp_path):
    out = str(tmp_path)
    c = local.run(pyfuns.csv_arrays, {"out": out, "csv": False}, 1, 0, log_dir=os.path.join(out, "logs"))
    c.train([([1.5, 2.0], 7, "a", b"x"), ([3.0, 4.0], 8, "b", b"yz")], num_partitions=1)
    c.shutdown(timeout=60)
    r = results(out)["worker-0"]
    assert r["shape"] == [2, 2] and r["dtype"] == "float64" and r["sum"] == 10.5
    assert r["labels"] == [7, 8]
    assert r["rest"] == [["a", "b"], ["x", "yz"]] and r["rest_types"] == ["str", "bytes"]


def test_the_train_module_never_works_on_a_copy():
    """Pulled values and averaged gradients are written into the arrays given: one that would
    have to be converted (float64, strided, a list) is refused rather than silently copied."""
    from torchonspark import _native
    train = _native.load_train()
    for bad in (np.zeros(3), np.zeros((3, 4), np.float32)[:, :2], [1.0, 2.0]):
        with pytest.raises(TypeError, match="writable, contiguous float32"):
            train.Allreducer("127.0.0.1:1", "secret", "x", 0, 1, "127.0.0.1", 0.1, [("p", bad)])


def test_the_extensions_load_no_libtorch_and_work_beside_the_users_torch(tmp_path):
    """One libtorch per process: the extension modules bring none of their own (the process's
    torch is the only one mapped), whichever torch 2.x was imported first or after."""
    code = r"""
import sys
sys.path.insert(0, sys.argv[1])
def libtorch():
    return sorted({l.split()[-1] for l in open("/proc/self/maps") if "/libtorch" in l or "/libc10" in l})
from torchonspark import _native
_native.load(); t = _native.load_train()
assert libtorch() == [], libtorch()
import torch
lib = libtorch()
assert lib and all(p.startswith(torch.__path__[0]) for p in lib), lib
print(torch.__version__)
"""
    out = subprocess.run([sys.executable, "-c", code, os.path.join(HERE, "..", "..", "python")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert out.returncode == 0, out.stdout.decode()
    assert out.stdout.decode().strip().split("\n")[-1].startswith("2."), out.stdout.decode()


def test_parquet_direct_mode_deals_row_groups_in_order(tmp_path):
    out = str(tmp_path)
    data = os.path.join(out, "data")
    # Row groups of 100: part 0 has 0-99, 100-199, 200-249; part 1 250-349, 350-449; part 2 450-479.
    pyfuns.write_parquet_parts(data, [250, 200, 30], 100)
    c = local.run(pyfuns.parquet_ids, {"out": out, "data": data, "epochs": 2}, 3, 1,
                  input_mode=InputMode.TENSORFLOW, log_dir=os.path.join(out, "logs"))
    c.shutdown(timeout=60)
    r = results(out)
    want0 = list(range(0, 100)) + list(range(200, 250)) + list(range(350, 450))
    want1 = list(range(100, 200)) + list(range(250, 350)) + list(range(450, 480))
    assert r["worker-0"]["ids"] == want0 * 2
    assert r["worker-1"]["ids"] == want1 * 2


def test_gpus_per_node_deals_the_visible_gpus_to_the_trainers(tmp_path, monkeypatch):
    out = str(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,7")  # ids, not devices: none needed
    c = local.run(pyfuns.report_gpus, {"out": out}, 3, 1, gpus_per_node=1, log_dir=os.path.join(out, "logs"))
    c.shutdown(timeout=60)
    r = results(out)
    assert {role: w["visible"] for role, w in r.items()} == {"ps-0": "", "worker-0": "3", "worker-1": "5"}
    assert r["ps-0"]["device"] == "cpu"
    assert os.environ.get("TOS_GPUS_PER_NODE") is None  # local.run put the environment back


def test_gpus_per_node_without_gpus_fails_before_any_node_starts(tmp_path, monkeypatch):
    out = str(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    start = time.time()
    with pytest.raises(TorchOnSparkError, match=r"gpus_per_node 1 asks for 2 GPUs \(1 for each of 2 trainers\), "
                                                r"but 0 are visible \(CUDA_VISIBLE_DEVICES is empty\)"):
        local.run(pyfuns.report_gpus, {"out": out}, 2, 0, gpus_per_node=1, log_dir=os.path.join(out, "logs"))
    assert time.time() - start < 30
    assert results(out) == {}  # no node ran


def test_without_gpus_per_node_the_nodes_keep_the_drivers_gpus(tmp_path, monkeypatch):
    out = str(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    c = local.run(pyfuns.report_gpus, {"out": out}, 2, 0, log_dir=os.path.join(out, "logs"))
    c.shutdown(timeout=60)
    assert {role: w["visible"] for role, w in results(out).items()} == {"worker-0": "3,5", "worker-1": "3,5"}
