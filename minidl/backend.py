"""The array backend: NumPy on the CPU, CuPy on the GPU.

Every op asks ``get_array_module(array)`` for ``xp`` and writes its array code once. CuPy is imported
lazily: ``import minidl`` works on a machine without CUDA, and CuPy is loaded only when a GPU is asked
for (``MINIDL_DEVICE=gpu``, ``Tensor.to('cuda')``) or looked for (``gpu_available()``, ``MINIDL_DEVICE=auto``).

Device names follow PyTorch: ``'cpu'`` and ``'cuda'``; ``'gpu'`` and ``'cuda:0'`` are accepted as aliases.
"""
import ctypes
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

# NumPy type of a kernel's accumulator ``acc_t`` per array dtype: float16 kernels add in float32, and the
# floating scalars a kernel takes as ``acc_t`` must be passed as this type (CuPy passes a NumPy scalar's
# own bytes, so a float16 value for a ``float`` parameter would be read as garbage).
ACCUMULATOR_TYPES = {
    np.dtype(np.float32): np.float32,
    np.dtype(np.float64): np.float64,
    np.dtype(np.float16): np.float32,
}

_cupy = None
_cupy_checked = False
_default_device = None
_tf32 = False

# CuPy's cuBLAS compute types (cupy/_core/_routines_linalg.pxd), used when its module does not export them
_COMPUTE_TYPE_DEFAULT = 1
_COMPUTE_TYPE_TF32 = 7


def _load_cupy():
    """Import CuPy once; ``None`` when it is not installed or finds no device.

    Only those two answers mean "no GPU". Anything else (CuPy installed but unable to load its CUDA
    libraries, an error while seeding the GPU's generator) is a real fault and propagates with its cause.
    """
    global _cupy, _cupy_checked
    if not _cupy_checked:
        try:
            import cupy
        except ModuleNotFoundError as e:
            if e.name != "cupy":
                raise
            _cupy_checked = True
            return None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError:  # no driver, or no device
            count = 0
        _cupy_checked = True
        if count > 0:
            _cupy = cupy
            from . import random as _random

            _random._seed_gpu()
            if _tf32:
                _apply_tf32(cupy)
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


def is_array(value):
    """A NumPy or CuPy array."""
    return isinstance(value, np.ndarray) or is_gpu_array(value)


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


def set_tf32(enabled):
    """Let float32 matrix products on the GPU use TF32 tensor cores (``True``), or not (``False``, the default).

    TF32 rounds each GEMM operand to a 10-bit mantissa (float32's range, about 3 decimal digits) and
    accumulates in float32, several times faster on Ampere and later cards (H100, H200). It changes CuPy's
    cuBLAS compute type for float32 (``cupy._core._routines_linalg.set_compute_type``), which every
    ``matmul``/``dot``/``tensordot`` of CuPy, and so every convolution and linear layer of minidl, reads;
    the same switch as the environment variable ``CUPY_TF32=1``, but changeable at run time. The
    hand-written kernels (im2col, pooling, ...) do not multiply matrices and are unaffected. PyTorch's
    equivalent is ``torch.backends.cuda.matmul.allow_tf32`` (and ``torch.backends.cudnn.allow_tf32``).

    On the CPU it changes nothing: NumPy's float32 GEMMs are float32. Cards older than compute
    capability 8.0 have no TF32; CuPy then warns and keeps float32.
    """
    global _tf32
    _tf32 = bool(enabled)
    if _cupy is not None:
        _apply_tf32(_cupy)


def get_tf32():
    """Whether ``set_tf32(True)`` is in force."""
    return _tf32


def _apply_tf32(cupy):
    linalg = cupy._core._routines_linalg
    if _tf32:
        compute_type = getattr(linalg, "COMPUTE_TYPE_TF32", _COMPUTE_TYPE_TF32)
    else:
        compute_type = getattr(linalg, "COMPUTE_TYPE_DEFAULT", _COMPUTE_TYPE_DEFAULT)
    linalg.set_compute_type(np.float32, compute_type)


# ----------------------------------------------------------------------------- CPU threads

_threads = None  # set_num_threads's value; None: follow OpenBLAS's default

_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
                 "openblas_set_num_threads")
_BLAS_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
                 "openblas_get_num_threads")


@functools.lru_cache(maxsize=None)
def _openblas():
    """(set, get) thread-count functions of the OpenBLAS that NumPy loaded, or None when there is none.

    The library is found among the process's mapped files (Linux); NumPy's wheels ship OpenBLAS under
    a prefixed name, so each known symbol spelling is tried.
    """
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _BLAS_SETTERS if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _BLAS_GETTERS if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            getter.restype = ctypes.c_int
            return setter, getter
    return None


def set_num_threads(n):
    """Use ``n`` threads on the CPU, as ``torch.set_num_threads``: in NumPy's matrix products (OpenBLAS)
    and in minidl's own thread pool (``minidl.parallel``), which runs the rest of a convolution's or a
    pooling's work (the column copies, the transforms) over chunks of the batch.

    Why it matters on a small machine: OpenBLAS's worker threads spin while they wait for work, so when
    other processes already keep the cores busy, a second BLAS thread mostly burns time (measured on a
    loaded 2-core machine: a training step of the default network took 3.4x longer with 2 threads than
    with 1). Returns False when no OpenBLAS was found (another BLAS, or not Linux): then the BLAS's own
    setting (e.g. ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``) applies to the matrix products and
    ``n`` to the pool.
    """
    global _threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _threads = n
    return set_blas_threads(n)


def set_blas_threads(n):
    """OpenBLAS's own thread count alone (the thread pool sets 1 while its workers multiply); False
    when no OpenBLAS was found."""
    blas = _openblas()
    if blas is None:
        return False
    blas[0](ctypes.c_int(n))
    return True


def get_num_threads():
    """The number of CPU threads minidl uses: the last ``set_num_threads``, else OpenBLAS's own count
    (``os.cpu_count()`` when it cannot be asked)."""
    if _threads is not None:
        return _threads
    blas = _openblas()
    return blas[1]() if blas is not None else (os.cpu_count() or 1)


def _initial_threads():
    """``MINIDL_NUM_THREADS`` when set; else one thread if the machine is already oversubscribed
    (1-minute load average at least the number of cores) when minidl is imported, where a second thread
    costs more than it gives (see ``set_num_threads``); else OpenBLAS's default (all cores). The choice
    is fixed here, so the thread pool never reads a count it has itself lowered for its workers."""
    global _threads
    _threads = get_num_threads()
    env = os.environ.get("MINIDL_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"MINIDL_NUM_THREADS: expected a positive int, got {env!r}") from None
        set_num_threads(n)
        return
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        load = 0.0
    if cores > 1 and load >= cores:
        set_num_threads(1)


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


def accumulator_type(dtype):
    """The NumPy scalar type of ``acc_t`` in a kernel built for ``dtype``: what its ``acc_t`` arguments must be."""
    dtype = np.dtype(dtype)
    if dtype not in ACCUMULATOR_TYPES:
        raise TypeError(f"no CUDA kernels for dtype {dtype}; expected one of float16, float32, float64")
    return ACCUMULATOR_TYPES[dtype]


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


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory():
    """Make glibc's malloc keep freed memory in the process instead of giving it back to the system;
    True when it took (Linux with glibc), False elsewhere. minidl does this once, at import, unless
    ``MINIDL_KEEP_FREED_MEMORY=0``.

    Why: a training step allocates and frees arrays of some MiB by the dozen (each op's output, each
    gradient). By default glibc serves such a block by ``mmap`` and unmaps it when freed, or trims the
    heap's free top, so the next block of that size is new memory and costs a page fault per 4 KiB
    touched; when the thread pool's two threads fault at once the kernel serialises them, and a ReLU on
    two threads took twice its one-thread time. Measured on the 2-core x86 machine, steps at two threads
    before and after: the small CNN 55-65 -> 44 ms, VGG-16 w1/4 320 -> 249 ms, FCN-8s 234 -> 222 ms
    (page faults per step 6,000-19,000 -> under 10). The cost: the process holds on to its peak memory
    (blocks up to 1 GiB come from the heap; the heap's free top is trimmed beyond 1 GiB).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    # the threshold first: if it were refused, a trim threshold alone would turn off glibc's own
    # adjustment and leave every block of over 128 KiB to mmap
    for threshold in (2**30, 32 * 2**20):
        if mallopt(_M_MMAP_THRESHOLD, threshold) == 1:
            return mallopt(_M_TRIM_THRESHOLD, 2**30) == 1
    return False


FREED_MEMORY_KEPT = os.environ.get("MINIDL_KEEP_FREED_MEMORY", "1") != "0" and keep_freed_memory()
_initial_threads()
