"""The array backend: NumPy on the CPU, CuPy on the GPU.

Every op asks ``get_array_module(array)`` for ``xp`` and writes its array code once. CuPy is imported
lazily: ``import minidl`` works on a machine without CUDA, and CuPy is loaded only when a GPU is asked
for (``MINIDL_DEVICE=gpu``, ``Tensor.to('cuda')``) or looked for (``gpu_available()``, ``MINIDL_DEVICE=auto``).

Device names follow PyTorch: ``'cpu'`` and ``'cuda'``; ``'gpu'`` and ``'cuda:0'`` are accepted as aliases.
"""
import functools
import os
import pathlib

import numpy as np

KERNEL_DIR = pathlib.Path(__file__).with_name("kernels")

# CUDA type name each array dtype compiles to; kernels are written against ``scalar_t``.
KERNEL_TYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.float16): "__half",
}

_cupy = None
_cupy_checked = False
_default_device = None


def _load_cupy():
    """Import CuPy once; ``None`` when it is not installed or finds no device."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                _cupy = cupy
                from . import random as _random

                _random._seed_gpu()
        except Exception:  # no CuPy, no driver, or no device: all mean "no GPU"
            _cupy = None
    return _cupy


def gpu_available():
    """True when CuPy is installed and sees at least one CUDA device."""
    return _load_cupy() is not None


def cupy_module():
    """The ``cupy`` module, or a clear error when no GPU can be used."""
    cp = _load_cupy()
    if cp is None:
        raise RuntimeError(
            "minidl: a GPU was asked for but CuPy finds no CUDA device "
            "(install the 'gpu' extra on a machine with an NVIDIA GPU, or use device='cpu')"
        )
    return cp


def is_gpu_array(array):
    return type(array).__module__.split(".")[0] == "cupy"


def get_array_module(*arrays):
    """``numpy`` or ``cupy``, whichever holds the given arrays (NumPy when none is a CuPy array)."""
    for a in arrays:
        if is_gpu_array(a):
            return _cupy if _cupy is not None else cupy_module()
    return np


def canonical_device(device):
    """Normalise a device name: ``'cpu'`` or ``'cuda'``; anything else is a ``ValueError``."""
    if device is None:
        return get_default_device()
    name = str(getattr(device, "type", device)).lower()
    if name == "cpu":
        return "cpu"
    if name in ("cuda", "gpu", "cuda:0"):
        return "cuda"
    if name == "auto":
        return "cuda" if gpu_available() else "cpu"
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' (or 'gpu') or 'auto'")


def device_of(array):
    return "cuda" if is_gpu_array(array) else "cpu"


def to_device(array, device):
    """Return ``array`` on ``device`` ('cpu' or 'cuda'), copying only when it has to move."""
    device = canonical_device(device)
    if device == "cpu":
        return array.get() if is_gpu_array(array) else np.asarray(array)
    cp = cupy_module()
    return array if is_gpu_array(array) else cp.asarray(array)


def to_numpy(array):
    return array.get() if is_gpu_array(array) else np.asarray(array)


def get_default_device():
    """The device new tensors are created on: ``set_default_device`` or ``MINIDL_DEVICE`` (default cpu)."""
    global _default_device
    if _default_device is None:
        env = os.environ.get("MINIDL_DEVICE", "cpu")
        try:
            _default_device = canonical_device(env)
        except ValueError as e:
            raise ValueError(f"MINIDL_DEVICE: {e}") from None
        if _default_device == "cuda":
            cupy_module()
    return _default_device


def set_default_device(device):
    """Choose where new tensors live: 'cpu', 'cuda'/'gpu', or 'auto' (the GPU when one is found)."""
    global _default_device
    device = canonical_device(device)
    if device == "cuda":
        cupy_module()
    _default_device = device


def kernel_defines(dtype):
    """The ``-D`` options a kernel of ``minidl/kernels`` is compiled with for ``dtype``.

    The runtime loader and the test that compiles every kernel with ``nvcc`` both use this list, so
    what CI compiles is what the GPU runs.
    """
    dtype = np.dtype(dtype)
    if dtype not in KERNEL_TYPES:
        raise TypeError(f"no CUDA kernels for dtype {dtype}; expected one of float16, float32, float64")
    opts = [f"-Dscalar_t={KERNEL_TYPES[dtype]}"]
    if dtype == np.float16:
        opts += ["-DMINIDL_HALF=1", "-Dacc_t=float"]
    else:
        opts += [f"-Dacc_t={KERNEL_TYPES[dtype]}"]
    return tuple(opts)


def kernel_dtypes(name):
    """The dtypes a kernel file is built for: its ``// dtypes:`` line, else float32 and float64."""
    for line in kernel_source(name).splitlines():
        if line.strip().startswith("// dtypes:"):
            return tuple(np.dtype(d) for d in line.split(":", 1)[1].split())
    return (np.dtype(np.float32), np.dtype(np.float64))


def kernel_source(name):
    path = KERNEL_DIR / f"{name}.cu"
    if not path.exists():
        raise FileNotFoundError(f"no CUDA kernel file {path}")
    return path.read_text()


def kernel_program(name, dtype):
    """(source, options) that compile ``kernels/<name>.cu`` for ``dtype``: what NVRTC gets at run time
    and what the test suite hands to ``nvcc --ptx``."""
    dtype = np.dtype(dtype)
    if dtype not in kernel_dtypes(name):
        raise TypeError(f"kernel {name}.cu is not built for {dtype} (its '// dtypes:' line)")
    source = kernel_source(name)
    if dtype == np.float16:
        source = "#include <cuda_fp16.h>\n" + source
    return source, ("-std=c++14",) + kernel_defines(dtype)


@functools.lru_cache(maxsize=None)
def _raw_module(name, dtype_str):
    source, options = kernel_program(name, dtype_str)
    return cupy_module().RawModule(code=source, options=options)


def load_kernel(name, function, dtype):
    """The CUDA function ``function`` of ``minidl/kernels/<name>.cu`` compiled for ``dtype``.

    Compiled once per process, file and dtype (memoised), then taken from CuPy's cache.
    """
    return _raw_module(name, np.dtype(dtype).str).get_function(function)


def launch(kernel, n, args, block=256):
    """Run ``kernel`` over ``n`` threads (one per output element, grid-stride loops in the kernel)."""
    if n == 0:
        return
    grid = min((n + block - 1) // block, 65535 * 8)
    kernel((grid,), (block,), args)
