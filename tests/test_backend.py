"""The backend: lazy CuPy, device choice, kernel build options."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minidl as md
from minidl import backend


def run_python(code, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)


def test_import_does_not_import_cupy():
    out = run_python("import sys, minidl; print('cupy' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_env_variable_picks_the_default_device():
    out = run_python("import minidl; print(minidl.get_default_device())", MINIDL_DEVICE="cpu")
    assert out.stdout.strip() == "cpu"
    out = run_python("import minidl; print(minidl.get_default_device())", MINIDL_DEVICE="auto")
    assert out.stdout.strip() == ("cuda" if md.gpu_available() else "cpu")
    out = run_python("import minidl; minidl.get_default_device()", MINIDL_DEVICE="tpu")
    assert out.returncode != 0 and "MINIDL_DEVICE" in out.stderr


def test_canonical_device_names():
    assert backend.canonical_device("cpu") == "cpu"
    assert backend.canonical_device("gpu") == "cuda"
    assert backend.canonical_device("cuda:0") == "cuda"
    with pytest.raises(ValueError, match="unknown device"):
        backend.canonical_device("metal")


def test_numpy_arrays_get_numpy():
    assert backend.get_array_module(np.ones(2)) is np


@pytest.mark.skipif(md.gpu_available(), reason="checks the message shown without a GPU")
def test_asking_for_a_gpu_without_one_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CuPy finds no CUDA device"):
        md.Tensor([1.0]).to("cuda")


def test_kernel_defines_per_dtype():
    assert "-Dscalar_t=float" in backend.kernel_defines(np.float32)
    assert "-Dscalar_t=double" in backend.kernel_defines(np.float64)
    assert "-Dacc_t=float" in backend.kernel_defines(np.float16)
    with pytest.raises(TypeError, match="int32"):
        backend.kernel_defines(np.int32)


@pytest.mark.gpu
def test_tensors_move_between_devices_and_mismatch_is_an_error():
    x = md.Tensor(np.arange(4.0), requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and y.to("cpu").tolist() == x.tolist()
    (y * 2.0).sum().backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0] * 4
    with pytest.raises(ValueError, match="different devices: cpu and cuda"):
        x + y
    with pytest.raises(ValueError, match="different devices: cuda and cpu"):
        y * x


@pytest.mark.gpu
def test_manual_seed_repeats_gpu_draws():
    cp = backend.cupy_module()
    md.manual_seed(3)
    a = cp.random.random(4)
    md.manual_seed(3)
    assert (a == cp.random.random(4)).all()


def _fake_cupy(device_count):
    """A module named cupy whose device query is ``device_count`` (a function: it may raise)."""
    import types

    class CUDARuntimeError(RuntimeError):
        pass

    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=lambda: device_count(CUDARuntimeError), CUDARuntimeError=CUDARuntimeError))
    return cupy


@pytest.mark.parametrize("name, count, expected", [
    ("no device", lambda error: 0, False),
    ("no driver", lambda error: (_ for _ in ()).throw(error("cudaErrorInsufficientDriver")), False),
])
def test_no_device_or_driver_means_no_gpu(monkeypatch, name, count, expected):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(count))
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_checked", False)
    assert backend.gpu_available() is expected


def test_a_broken_cupy_is_reported_not_taken_for_no_gpu(monkeypatch):
    def broken(error):
        raise OSError("libnvrtc.so.13: cannot open shared object file")

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(broken))
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_checked", False)
    with pytest.raises(OSError, match="libnvrtc"):
        backend.gpu_available()

    import importlib.abc
    import importlib.util

    class BrokenInstall(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        """``import cupy`` finds CuPy, whose own imports then fail (a wheel for another CUDA, say)."""

        def find_spec(self, name, path, target=None):
            return importlib.util.spec_from_loader(name, self) if name == "cupy" else None

        def exec_module(self, module):
            raise ImportError("cupy_backends.cuda.api.runtime: undefined symbol cudaGetDeviceCount")

    monkeypatch.delitem(sys.modules, "cupy")
    monkeypatch.setattr(sys, "meta_path", [BrokenInstall()] + sys.meta_path)
    monkeypatch.setattr(backend, "_cupy_checked", False)
    with pytest.raises(ImportError, match="undefined symbol"):
        backend.gpu_available()


def test_freed_memory_is_kept_for_the_next_array():
    # a block freed by one op serves the next op's array without new pages (no page fault per 4 KiB)
    import resource

    from minidl import backend

    if not backend.FREED_MEMORY_KEPT:
        pytest.skip("no glibc malloc to set here (not Linux/glibc, or MINIDL_KEEP_FREED_MEMORY=0)")
    a = np.ones(2**21, np.float32)  # 8 MiB, touched
    del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        a = np.ones(2**21, np.float32)
        del a
    # given back to the system each time, each round would fault in its 2048 pages again
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 100


def test_keeping_freed_memory_can_be_turned_off():
    import subprocess
    import sys

    code = "import minidl; print(minidl.backend.FREED_MEMORY_KEPT)"
    env = dict(os.environ, MINIDL_KEEP_FREED_MEMORY="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
