"""CUDA kernels compiled for the host and launched as CuPy would launch them.

``HostModule(code, options)`` is ``cupy.RawModule``: the source (a file of ``minidl/kernels``, with the
options ``backend.kernel_program`` gives NVRTC) is compiled by the host C++ compiler with
``include/cuda_host.h`` force-included, into a shared library loaded with ``ctypes``. Next to the
kernels the library gets, per ``extern "C" __global__`` function, two generated entry points: its
signature as a string of C types (found by C++ template deduction, so macros such as ``scalar_t`` are
already resolved) and a runner that calls it once per (block, thread) of a grid, in sequence.

A launch ``kernel(grid, block, args)`` then does what the GPU would do, and fails where a real launch
would go wrong silently:

* the argument list is checked against the C signature the way CuPy packs it: a Python ``int`` travels
  as a 64-bit integer, a ``float`` as a double, a NumPy scalar as its own type, a device array as a
  pointer to its dtype (C-contiguous: the kernels index flat memory);
* grid and block are checked against CUDA's limits;
* each array is copied into a buffer with guard zones on both sides; pointers to non-const data are
  outputs, pre-filled with a sentinel bit pattern. Afterwards a changed guard zone (an out-of-bounds
  write) or a sentinel left in an output (an element no thread wrote) raises.

Builds are cached on disk by a hash of compiler, header, source and options, and in memory per process.
"""
import ctypes
import functools
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import numpy as np

INCLUDE = pathlib.Path(__file__).with_name("include")
GUARD = 256  # elements of guard zone on each side of every array argument
MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)

# bit pattern of a fresh output element (NaNs with a payload for floats, huge values for integers)
SENTINEL = {1: 0xA5, 2: 0x7D5A, 4: 0x7FA5A5A5, 8: 0x7FF4A5A5A5A5A5A5}
UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}

# C type (as the generated signature names it) -> NumPy dtype of the value CuPy must be given
C_TYPES = {
    "float16": np.float16, "float32": np.float32, "float64": np.float64, "bool": np.bool_,
    "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
}

KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+(\w+)\s*\(')

RUNNER = r"""
#include <string>
#include <utility>
namespace standin {
template <class T> struct ctype { static std::string name() { return "unknown" + std::to_string(sizeof(T)); } };
#define STANDIN_CTYPE(T, NAME) template <> struct ctype<T> { static std::string name() { return NAME; } };
STANDIN_CTYPE(float, "float32") STANDIN_CTYPE(double, "float64") STANDIN_CTYPE(bool, "bool")
STANDIN_CTYPE(signed char, "int8") STANDIN_CTYPE(short, "int16") STANDIN_CTYPE(int, "int32")
STANDIN_CTYPE(long, "int64") STANDIN_CTYPE(long long, "int64") STANDIN_CTYPE(unsigned char, "uint8")
STANDIN_CTYPE(unsigned short, "uint16") STANDIN_CTYPE(unsigned int, "uint32")
STANDIN_CTYPE(unsigned long, "uint64") STANDIN_CTYPE(unsigned long long, "uint64")
#ifdef MINIDL_HALF
STANDIN_CTYPE(__half, "float16")
#endif
template <class T> struct param { static std::string name() { return ctype<T>::name(); } };
template <class T> struct param<T*> {
    static std::string name() {
        return std::string(std::is_const<T>::value ? "const*" : "*") + ctype<typename std::remove_cv<T>::type>::name();
    }
};
template <class... A> std::string signature(void (*)(A...)) {
    std::string names[] = {param<A>::name()..., ""};
    std::string s;
    for (unsigned i = 0; i < sizeof...(A); ++i) s += (i ? " " : "") + names[i];
    return s;
}
template <class... A, std::size_t... I>
void call(void (*f)(A...), void** args, std::index_sequence<I...>) {
    f(*static_cast<typename std::remove_reference<A>::type*>(args[I])...);
}
template <class... A> void run(void (*f)(A...), void** args, const unsigned* grid, const unsigned* block) {
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    for (unsigned bz = 0; bz < grid[2]; ++bz) for (unsigned by = 0; by < grid[1]; ++by)
    for (unsigned bx = 0; bx < grid[0]; ++bx) {
        blockIdx = {bx, by, bz};
        for (unsigned tz = 0; tz < block[2]; ++tz) for (unsigned ty = 0; ty < block[1]; ++ty)
        for (unsigned tx = 0; tx < block[0]; ++tx) {
            threadIdx = {tx, ty, tz};
            call(f, args, std::index_sequence_for<A...>{});
        }
    }
}
}  // namespace standin
"""

ENTRY = r"""
extern "C" const char* standin_signature_{0}() {{ static std::string s = standin::signature({0}); return s.c_str(); }}
extern "C" void standin_launch_{0}(void** args, const unsigned* grid, const unsigned* block) {{
    standin::run({0}, args, grid, block);
}}
"""


def compiler():
    """The host C++ compiler: ``$CXX``, else g++, else clang++; ``None`` when there is none."""
    for name in (os.environ.get("CXX"), "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@functools.lru_cache(maxsize=None)
def _compiler_id(cxx):
    return subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout


def _host_options(options):
    """NVRTC options -> host compiler options; an option the stand-in cannot honour raises."""
    host = []
    for option in options:
        if option.startswith(("-D", "-I")):
            host.append(option)
        elif option.startswith(("-std=", "--std=")):
            host.append("-std=" + option.split("=", 1)[1])
        else:
            raise ValueError(f"cupy stand-in: NVRTC option {option!r} has no host equivalent")
    return host


def _cache_dir():
    root = os.environ.get("MINIDL_STANDIN_CACHE") or os.path.join(
        tempfile.gettempdir(), f"minidl-cuda-standin-{os.getuid()}")
    os.makedirs(root, exist_ok=True)
    return pathlib.Path(root)


@functools.lru_cache(maxsize=None)
def build(code, options):
    """Compile ``code`` with NVRTC ``options`` for the host; (library, kernel names). Cached by hash."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("cupy stand-in: no C++ compiler (g++ or clang++) found")
    names = KERNEL.findall(code)
    source = code + RUNNER + "".join(ENTRY.format(name) for name in names)
    flags = ["-O2", "-fPIC", "-shared", "-x", "c++", "-include", "cuda_host.h", *_host_options(options)]
    # the headers' text, not their folder, goes into the key: a copy of the project shares the cache
    digest = hashlib.sha256("\0".join(
        [_compiler_id(cxx), *flags, source, *(p.read_text() for p in sorted(INCLUDE.glob("*.h")))]
    ).encode()).hexdigest()[:24]
    flags.append(f"-I{INCLUDE}")
    library = _cache_dir() / f"{digest}.so"
    if not library.exists():
        with tempfile.TemporaryDirectory(dir=library.parent) as work:
            src = pathlib.Path(work) / "kernels.cu"
            src.write_text(source)
            built = pathlib.Path(work) / "kernels.so"
            done = subprocess.run([cxx, *flags, str(src), "-o", str(built)], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"cupy stand-in: the host compiler rejected the kernel source:\n{done.stderr}")
            os.replace(built, library)
    return ctypes.CDLL(str(library)), tuple(names)


class HostModule:
    """``cupy.RawModule(code=..., options=...)`` compiled for the host."""

    def __init__(self, code=None, *, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=None):
        if code is None or path is not None or name_expressions is not None or jitify:
            raise NotImplementedError("cupy stand-in: RawModule supports code= and options= only")
        self.code, self.options = code, tuple(options)
        self._library, self._names = build(code, self.options)

    def get_function(self, name):
        if name not in self._names:
            raise RuntimeError(f"cupy stand-in: no kernel {name!r} in the module (it has {list(self._names)})")
        return HostKernel(self, name)


LAUNCHES = []  # (function name, NVRTC options) of every launch, for coverage checks
RELAUNCH_SHAPES = []  # extra (grid, block) shapes every launch is repeated with, bits compared


class HostKernel:
    """A ``__global__`` function of a ``HostModule``; called as CuPy's ``RawKernel``."""

    def __init__(self, module, name):
        self.module, self.name = module, name
        library = module._library
        signature = getattr(library, f"standin_signature_{name}")
        signature.restype = ctypes.c_char_p
        self.params = signature().decode().split()
        self._run = getattr(library, f"standin_launch_{name}")
        self._run.restype = None

    def __repr__(self):
        return f"<kernel {self.name}({', '.join(self.params)})>"

    def __call__(self, grid, block, args, *, shared_mem=0):
        grid, block = _dims(self.name, "grid", grid, MAX_GRID), _dims(self.name, "block", block, MAX_BLOCK)
        if int(np.prod(block)) > 1024:
            raise ValueError(f"{self.name}: block {block} has more than 1024 threads")
        if shared_mem:
            raise ValueError(f"{self.name}: dynamic shared memory is not supported by the host runner")
        if not isinstance(args, tuple):
            raise TypeError(f"{self.name}: args must be a tuple, got {type(args).__name__}")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: takes {len(self.params)} arguments ({' '.join(self.params)}), "
                            f"got {len(args)}")
        values = [self._argument(i, param, arg) for i, (param, arg) in enumerate(zip(self.params, args))]
        LAUNCHES.append((self.name, self.module.options))
        outputs = self._execute(grid, block, values)
        for shape in RELAUNCH_SHAPES:
            again = self._execute(*(_dims(self.name, what, s, limit) for what, s, limit in
                                    zip(("grid", "block"), shape, (MAX_GRID, MAX_BLOCK))), values)
            for i, (first, second) in enumerate(zip(outputs, again)):
                if not np.array_equal(_bits(first), _bits(second)):
                    raise AssertionError(f"{self.name}: output {i} differs between grid {grid} x block "
                                         f"{block} and grid {shape[0]} x block {shape[1]}")
        for value, interior in zip((v for v in values if isinstance(v, _Buffer) and v.output), outputs):
            value.array[...] = interior.reshape(value.array.shape)

    def _argument(self, i, param, arg):
        where = f"{self.name}: argument {i} ({param})"
        if param.startswith(("*", "const*")):
            from .array import ndarray
            if not isinstance(arg, ndarray):
                raise TypeError(f"{where}: expected a device array, got {type(arg).__name__}")
            dtype = C_TYPES.get(param.split("*")[1])
            if dtype is None or arg.dtype != dtype:
                raise TypeError(f"{where}: got an array of {arg.dtype}")
            if not arg._a.flags.c_contiguous:
                raise ValueError(f"{where}: the array is not C-contiguous (strides {arg.strides})")
            return _Buffer(arg._a, output=not param.startswith("const"))
        if param not in C_TYPES:
            raise TypeError(f"{where}: the stand-in cannot pass a parameter of this C type")
        # CuPy packs Python scalars as 64-bit values and NumPy scalars as their own type
        if isinstance(arg, bool):
            passed = np.dtype(np.bool_)
        elif isinstance(arg, int):
            passed = np.dtype(np.int64)
        elif isinstance(arg, float):
            passed = np.dtype(np.float64)
        elif isinstance(arg, np.generic):
            passed = arg.dtype
        else:
            raise TypeError(f"{where}: expected a scalar, got {type(arg).__name__}")
        expected = np.dtype(C_TYPES[param])
        if passed != expected:
            sizes = f", a {passed.itemsize}-byte value for a {expected.itemsize}-byte parameter" \
                if passed.itemsize != expected.itemsize else ""
            raise TypeError(f"{where}: CuPy would pass {passed} ({type(arg).__name__}){sizes}")
        return np.array([arg], dtype=passed)

    def _execute(self, grid, block, values):
        """Run one launch on fresh guarded copies; the outputs' interiors, after the checks."""
        buffers = [v.fresh() if isinstance(v, _Buffer) else None for v in values]
        pointers = np.array([b.pointer() for b in buffers if b is not None], dtype=np.uint64)
        addresses, k = [], 0
        for value, buffer in zip(values, buffers):
            if buffer is None:
                addresses.append(value.ctypes.data)
            else:
                addresses.append(pointers.ctypes.data + 8 * k)
                k += 1
        self._run((ctypes.c_void_p * max(len(values), 1))(*addresses),
                  (ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block))
        outputs = []
        for i, buffer in enumerate(buffers):
            if buffer is not None:
                buffer.check(f"{self.name}: argument {i} ({self.params[i]})")
                if buffer.output:
                    outputs.append(buffer.interior().copy())
        return outputs


class _Buffer:
    """An array argument: a guarded copy per execution (inputs copied in, outputs sentinel-filled)."""

    def __init__(self, array, output):
        self.array, self.output = array, output
        self.size, self.itemsize = array.size, array.dtype.itemsize

    def fresh(self):
        copy = _Buffer(self.array, self.output)
        copy.words = np.full(self.size + 2 * GUARD, SENTINEL[self.itemsize], dtype=UINT[self.itemsize])
        if not self.output:
            copy.interior()[...] = self.array.reshape(-1)
        return copy

    def interior(self):
        return self.words[GUARD:GUARD + self.size].view(self.array.dtype)

    def pointer(self):
        return self.words.ctypes.data + GUARD * self.itemsize

    def check(self, where):
        sentinel = SENTINEL[self.itemsize]
        guards = np.concatenate([self.words[:GUARD], self.words[GUARD + self.size:]])
        if (guards != sentinel).any():
            raise AssertionError(f"{where}: the kernel wrote outside the array ({self.size} elements)")
        if self.output and self.itemsize > 1:
            unwritten = np.flatnonzero(self.words[GUARD:GUARD + self.size] == sentinel)
            if unwritten.size:
                raise AssertionError(f"{where}: {unwritten.size} of {self.size} output elements were not "
                                     f"written (first at flat index {unwritten[0]})")


def _bits(array):
    return array.view(UINT[array.dtype.itemsize])


def _dims(name, what, dims, limits):
    if not isinstance(dims, tuple) or not 1 <= len(dims) <= 3:
        raise TypeError(f"{name}: {what} must be a tuple of 1 to 3 ints, got {dims!r}")
    dims = tuple(dims) + (1,) * (3 - len(dims))
    for d, limit in zip(dims, limits):
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 1 <= d <= limit:
            raise ValueError(f"{name}: {what} {dims} is outside CUDA's limits {limits}")
    return tuple(int(d) for d in dims)
